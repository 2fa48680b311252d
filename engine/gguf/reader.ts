/**
 * GGUF readers: from memory, or from a file through positioned reads of the
 * header region only. A model file can be 40 GB; the readers never touch the
 * tensor data, and grow their window (from the start of the item being parsed)
 * only as far as the metadata actually reaches.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { KilnError } from '../../common/errors.js';
import { GGUFHeaderParser, NeedMore, type GGUFFile } from './parser.js';

export type { GGUFFile, GGUFTensorInfo } from './parser.js';

export interface ReadOptions {
  /** First window and minimum growth step, in bytes. Tests shrink it to exercise window growth. */
  chunkSize?: number;
}

const DEFAULT_CHUNK = 1 << 20;
/** Largest single read call; a window grows through several. */
const MAX_READ = 16 << 20;
/**
 * Largest window one metadata item may need. Real tokenizers take a few MB; a
 * header claiming more is treated as unsupported rather than read into memory.
 */
export const MAX_HEADER_WINDOW = 256 << 20;

/**
 * Parses a GGUF held in memory. `buf` may be just a prefix of the file when
 * `fileSize` says how long the whole file is (e.g. a header fetched by range
 * request); the header must then lie within the prefix.
 */
export function parseGGUF(buf: Uint8Array, opts: { fileSize?: number } = {}): GGUFFile {
  const fileSize = opts.fileSize ?? buf.length;
  if (fileSize < buf.length) throw new KilnError('E_INTERNAL', `parseGGUF: fileSize ${fileSize} is less than the ${buf.length} bytes given`);
  const parser = new GGUFHeaderParser(fileSize);
  parser.feed(0, buf);
  try {
    return parser.run();
  } catch (e) {
    if (e instanceof NeedMore) {
      throw new KilnError('E_GGUF_MALFORMED', `GGUF header continues past the ${buf.length} bytes given (needs byte ${e.end})`);
    }
    throw e;
  }
}

/** The next window after `need`: from the resume point, at least doubled, within the file. */
function nextWindow(p: GGUFHeaderParser, need: NeedMore, chunk: number): { start: number; end: number } {
  const start = p.resumeAt;
  const have = p.windowEnd - start;
  if (need.end - start > MAX_HEADER_WINDOW) {
    throw new KilnError('E_GGUF_UNSUPPORTED', `GGUF metadata item at byte ${start} spans more than ${MAX_HEADER_WINDOW} bytes`);
  }
  const end = Math.min(p.fileSize, start + MAX_HEADER_WINDOW, Math.max(need.end, need.want, start + 2 * have, start + chunk));
  return { start, end };
}

/** Keeps the already-read tail of the old window; returns the buffer and where new reads begin. */
function regrow(old: Uint8Array, oldStart: number, start: number, end: number) {
  const buf = new Uint8Array(end - start);
  const keepFrom = start - oldStart;
  const kept = Math.max(0, old.length - keepFrom);
  buf.set(old.subarray(keepFrom, keepFrom + kept));
  return { buf, from: kept };
}

function truncatedWhileReading(path: string, at: number): KilnError {
  return new KilnError('E_GGUF_MALFORMED', `GGUF file ${path} ended at byte ${at} while reading its header (changed while reading?)`);
}

/** One positioned read the header parse asks for: `len` bytes of the file at `pos` into `buf` at `at`. */
interface ReadRequest {
  buf: Uint8Array;
  at: number;
  len: number;
  pos: number;
}

/**
 * The header parse of a file of `fileSize` bytes as a sequence of positioned
 * reads: yields each read it needs and is given back how many bytes it got
 * (0: the file ended). The sync and async readers differ only in how they read.
 */
function* headerReads(path: string, fileSize: number, chunk: number): Generator<ReadRequest, GGUFFile, number> {
  const p = new GGUFHeaderParser(fileSize);
  let buf = new Uint8Array(0);
  let bufStart = 0;
  let need = new NeedMore(Math.min(p.fileSize, chunk));
  for (;;) {
    const { start, end } = nextWindow(p, need, chunk);
    const grown = regrow(buf, bufStart, start, end);
    for (let at = grown.from; at < grown.buf.length; ) {
      const n = yield { buf: grown.buf, at, len: Math.min(MAX_READ, grown.buf.length - at), pos: start + at };
      if (n === 0) throw truncatedWhileReading(path, start + at);
      at += n;
    }
    buf = grown.buf;
    bufStart = start;
    p.feed(start, buf);
    try {
      return p.run();
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      need = e;
    }
  }
}

/** Reads and validates a GGUF file's header, KVs and tensor infos with synchronous positioned reads. */
export function readGGUFFileSync(path: string, opts: ReadOptions = {}): GGUFFile {
  const fd = openSync(path, 'r');
  try {
    const reads = headerReads(path, fstatSync(fd).size, Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK));
    for (let r = reads.next(); ; ) {
      if (r.done) return r.value;
      r = reads.next(readSync(fd, r.value.buf, r.value.at, r.value.len, r.value.pos));
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads and validates a GGUF file's header, KVs and tensor infos with async positioned reads. */
export async function readGGUFFile(path: string, opts: ReadOptions = {}): Promise<GGUFFile> {
  const fh = await open(path, 'r');
  try {
    const reads = headerReads(path, (await fh.stat()).size, Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK));
    for (let r = reads.next(); ; ) {
      if (r.done) return r.value;
      r = reads.next((await fh.read(r.value.buf, r.value.at, r.value.len, r.value.pos)).bytesRead);
    }
  } finally {
    await fh.close();
  }
}
