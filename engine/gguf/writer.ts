/**
 * Streaming GGUF v3 writer. The header region is encoded in memory (encode.ts);
 * tensor data is written in order, each tensor padded with zeros to the
 * alignment, from buffers or from callbacks yielding chunks, so a 40 GB model
 * never has to be held in memory.
 */
import { write as fsWrite } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { KilnError } from '../../common/errors.js';
import { layoutGGUF, type GGUFLayout, type GGUFTensorSpec } from './encode.js';
import type { GGUFValue } from './types.js';

export { layoutGGUF, alignUp, type GGUFLayout, type GGUFTensorSpec } from './encode.js';

/** Tensor bytes: a buffer, or a callback yielding them in chunks (called once, when the tensor is written). */
export type TensorSource = Uint8Array | (() => Iterable<Uint8Array> | AsyncIterable<Uint8Array>);

export interface GGUFWriteTensor extends GGUFTensorSpec {
  data: TensorSource;
}

export interface GGUFWriteSpec {
  /** Written in iteration order. */
  kv: Map<string, GGUFValue> | Iterable<readonly [string, GGUFValue]>;
  /** Tensor infos and data are written in this order. */
  tensors: readonly GGUFWriteTensor[];
  /** Default 32, or general.alignment when kv has it; a non-default value is added to kv. */
  alignment?: number;
}

/** A path (created or truncated; removed again if writing fails), an open fd (left open), or a writable stream (not ended). */
export type GGUFWriteTarget = string | number | NodeJS.WritableStream;

interface Sink {
  write(b: Uint8Array): Promise<void>;
}

const writeFd = promisify(fsWrite);
/** Small chunks are gathered into one write; larger ones go straight through. */
const STAGE_BYTES = 1 << 20;
const MAX_WRITE = 64 << 20;

/** A positional-free sink over an fd or FileHandle; a write call may write less than asked, so loop. */
function fdSink(target: number | FileHandle): Sink {
  return {
    async write(b) {
      for (let at = 0; at < b.length; ) {
        // Pieces stay well under the ~2 GB a single write call accepts.
        const len = Math.min(MAX_WRITE, b.length - at);
        const { bytesWritten } = typeof target === 'number' ? await writeFd(target, b, at, len) : await target.write(b, at, len);
        at += bytesWritten;
      }
    },
  };
}

function streamSink(stream: NodeJS.WritableStream): Sink {
  return {
    async write(b) {
      // A stream keeps the chunk it is given, and the staging buffer is reused: hand it a copy.
      if (!stream.write(new Uint8Array(b))) await once(stream as NodeJS.EventEmitter, 'drain');
    },
  };
}

class StagedSink {
  private stage = new Uint8Array(STAGE_BYTES);
  private used = 0;
  written = 0;

  constructor(private readonly out: Sink) {}

  async write(b: Uint8Array): Promise<void> {
    this.written += b.length;
    if (this.used + b.length > this.stage.length) await this.flush();
    if (b.length >= this.stage.length) return this.out.write(b);
    this.stage.set(b, this.used);
    this.used += b.length;
  }

  async zeros(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const k = Math.min(left, STAGE_BYTES);
      await this.write(new Uint8Array(k));
      left -= k;
    }
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.out.write(this.stage.subarray(0, this.used));
    this.used = 0;
  }
}

async function writeTensor(sink: StagedSink, t: GGUFWriteTensor, byteSize: number): Promise<void> {
  const short = (got: number) =>
    new KilnError('E_GGUF_MALFORMED', `writeGGUF: tensor "${t.name}" data is ${got} bytes, expected ${byteSize}`);
  if (t.data instanceof Uint8Array) {
    if (t.data.length !== byteSize) throw short(t.data.length);
    return sink.write(t.data);
  }
  let got = 0;
  for await (const chunk of t.data()) {
    got += chunk.length;
    if (got > byteSize) throw short(got);
    await sink.write(chunk);
  }
  if (got !== byteSize) throw short(got);
}

/** Writes the whole file to an already-open sink; returns the layout written. */
async function writeTo(out: Sink, spec: GGUFWriteSpec): Promise<GGUFLayout> {
  const layout = layoutGGUF(spec.kv, spec.tensors, spec.alignment);
  const sink = new StagedSink(out);
  await sink.write(layout.header);
  await sink.zeros(layout.dataOffset - layout.header.length);
  for (let i = 0; i < spec.tensors.length; i++) {
    const { offset, byteSize } = layout.tensors[i];
    await writeTensor(sink, spec.tensors[i], byteSize);
    const next = i + 1 < layout.tensors.length ? layout.tensors[i + 1].offset : layout.fileSize - layout.dataOffset;
    await sink.zeros(next - offset - byteSize);
  }
  await sink.flush();
  if (sink.written !== layout.fileSize) {
    throw new KilnError('E_INTERNAL', `writeGGUF wrote ${sink.written} bytes, layout says ${layout.fileSize}`);
  }
  return layout;
}

/** Writes a GGUF v3 file byte-exact to the spec: KVs and tensors in the order given. */
export async function writeGGUF(target: GGUFWriteTarget, spec: GGUFWriteSpec): Promise<GGUFLayout> {
  if (typeof target === 'number') return writeTo(fdSink(target), spec);
  if (typeof target !== 'string') return writeTo(streamSink(target), spec);
  const fh = await open(target, 'w');
  try {
    const layout = await writeTo(fdSink(fh), spec);
    await fh.close();
    return layout;
  } catch (e) {
    await fh.close().catch(() => {});
    // A half-written model file would later fail to load with a confusing error.
    await rm(target, { force: true });
    throw e;
  }
}

/** A TensorSource that streams [start, start + length) of a file, for copying tensors between GGUFs. */
export function fileRange(path: string, start: number, length: number, chunkSize = 4 << 20): () => AsyncIterable<Uint8Array> {
  return async function* () {
    const fh = await open(path, 'r');
    try {
      for (let at = 0; at < length; ) {
        const buf = new Uint8Array(Math.min(chunkSize, length - at));
        const { bytesRead } = await fh.read(buf, 0, buf.length, start + at);
        if (bytesRead === 0) throw new KilnError('E_GGUF_MALFORMED', `${path} ends at byte ${start + at}, inside a tensor`);
        yield buf.subarray(0, bytesRead);
        at += bytesRead;
      }
    } finally {
      await fh.close();
    }
  };
}
