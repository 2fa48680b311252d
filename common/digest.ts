/**
 * Content digests. Only sha256 exists in Ollama's registry protocol, and a
 * digest ends up in file paths (`blobs/sha256-<hex>`), so the accepted form is
 * exact: `sha256:` and 64 lowercase hex digits. Upper-case hex is refused
 * rather than folded, so that one blob never has two spellings.
 */
import { KilnError } from './errors.js';

/** A string known to match `^sha256:[0-9a-f]{64}$`. */
export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST = /^sha256:[0-9a-f]{64}$/;
// Blob files use `-` because `:` is not allowed in Windows file names.
const BLOB_FILE = /^sha256-[0-9a-f]{64}$/;

function invalid(s: string): KilnError {
  // JSON quoting shows NUL, newlines and trailing spaces for what they are.
  const shown = JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);
  return new KilnError('E_INVALID_DIGEST', `invalid digest ${shown}`);
}

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST.test(s);
}

/** `sha256:<hex>` → Digest; anything else throws `E_INVALID_DIGEST`. */
export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw invalid(String(s));
  return s;
}

/** The blob store's file name `sha256-<hex>` → Digest. */
export function digestFromBlobFileName(s: string): Digest {
  if (typeof s !== 'string' || !BLOB_FILE.test(s)) throw invalid(String(s));
  return `sha256:${s.slice('sha256-'.length)}` as Digest;
}

/** Digest → `sha256-<hex>`, the name of its file under `blobs/`. */
export function blobFileName(digest: Digest): string {
  return `sha256-${parseDigest(digest).slice('sha256:'.length)}`;
}
