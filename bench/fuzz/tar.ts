/**
 * A minimal ustar writer, so the OCI target can mutate an archive's entries
 * (names, types, bodies) synchronously and still produce well-formed tar
 * around them; and a checksum fix-up so byte mutations of headers get past
 * the checksum and into the importer.
 */
export interface TarEntry {
  name: string;
  body: Uint8Array;
  /** ustar typeflag: '0' file, '5' folder, '2' symlink, '1' hard link, '3' char device, 'x' pax header. */
  type: string;
  linkname?: string;
}

function field(h: Uint8Array, at: number, len: number, s: string): void {
  h.set(Buffer.from(s, 'utf8').subarray(0, len), at);
}

function octal(h: Uint8Array, at: number, len: number, n: number): void {
  field(h, at, len, n.toString(8).padStart(len - 1, '0') + '\0');
}

/** Recomputes a header block's checksum in place (the sum of its bytes, the checksum field read as spaces). */
export function fixChecksum(b: Uint8Array, at: number): void {
  b.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + 512; i++) sum += b[i];
  const s = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) b[at + 148 + i] = s.charCodeAt(i);
  b[at + 154] = 0;
  b[at + 155] = 0x20;
}

export function packTar(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const h = new Uint8Array(512);
    field(h, 0, 100, e.name);
    octal(h, 100, 8, e.type === '5' ? 0o755 : 0o644);
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, e.body.length);
    octal(h, 136, 12, 0);
    field(h, 156, 1, e.type);
    field(h, 157, 100, e.linkname ?? '');
    field(h, 257, 8, 'ustar\x0000');
    fixChecksum(h, 0);
    parts.push(h, e.body, new Uint8Array((512 - (e.body.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

/** Offsets of header blocks (those that say ustar) in a tar, walking entry sizes; stops at anything odd. */
export function headerOffsets(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p + 512 <= b.length; ) {
    if (Buffer.from(b.subarray(p + 257, p + 262)).toString('latin1') !== 'ustar') break;
    out.push(p);
    const size = parseInt(Buffer.from(b.subarray(p + 124, p + 135)).toString('latin1'), 8);
    if (!Number.isFinite(size) || size < 0) break;
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}
