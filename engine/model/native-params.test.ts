/**
 * The native boundary (kernels/binding/llama_binding.cc): llamaNew reads named
 * fields into the C++ kiln_llama_params, each one checked, and positions that
 * do not fit the native int32 positions are RangeErrors, never narrowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapFile, NativeLlama, type MappedFile } from '../../kernels/index.js';
import { KJV_F32 } from '../../test/helpers/fixtures.js';
import { readGGUFFile } from '../gguf/reader.js';
import { llamaLayout } from './hparams.js';
import { Model } from './model.js';

/** The native error behind a KilnError('E_NATIVE'). */
function nativeError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    const k = e as Error & { code?: string; cause?: unknown };
    expect(k.code).toBe('E_NATIVE');
    return k.cause as Error;
  }
  throw new Error('expected a throw');
}

describe('llamaNew: named parameters', () => {
  let map: MappedFile;
  let layout: ReturnType<typeof llamaLayout>;

  beforeAll(async () => {
    layout = llamaLayout(await readGGUFFile(KJV_F32), { nCtx: 64 });
    map = mapFile(KJV_F32);
  });
  afterAll(() => map.unmap());

  it('builds a context from the named fields, with the cache type as a string', () => {
    expect(layout.hp.kvCache).toBe('f16');
    const m = new NativeLlama(map, { ...layout.hp, kvCache: 'f32' }, layout.weights);
    expect(m.eval([1, 2, 3], 0).length).toBe(layout.hp.nVocab);
    m.free();
  });

  it.each([
    ['a missing field is a TypeError naming it', { nHeadKv: undefined }, TypeError, /params\.nHeadKv is missing/],
    ['a field of the wrong type is a TypeError', { ropeNeox: 1 }, TypeError, /params\.ropeNeox must be a boolean/],
    ['a count that is not an integer is a RangeError', { nHead: 2.5 }, RangeError, /params\.nHead must be an integer/],
    ['a count past int32 is a RangeError, not narrowed', { nCtx: 2 ** 32 + 64 }, RangeError, /params\.nCtx must be an integer in \[1, 2147483647\]/],
    ['a layer count out of range is a RangeError', { nLayer: 0 }, RangeError, /params\.nLayer/],
    ['an unknown cache type is a RangeError', { kvCache: 'f8' }, RangeError, /params\.kvCache must be 'f32' or 'f16'; got 'f8'/],
    ['a cache type that is not a string is a TypeError', { kvCache: true }, TypeError, /params\.kvCache/],
    ['a non-finite float is a RangeError', { rmsEps: Number.NaN }, RangeError, /params\.rmsEps must be finite/],
    ['a negative rope base is a RangeError', { ropeBase: -1 }, RangeError, /params\.ropeBase must be a positive/],
  ])('%s', (_name, patch, kind, message) => {
    const e = nativeError(() => new NativeLlama(map, { ...layout.hp, ...(patch as object) }, layout.weights));
    expect(e).toBeInstanceOf(kind);
    expect(e.message).toMatch(message);
  });
});

describe('positions out of int32 range', () => {
  let model: Model;
  beforeAll(async () => {
    model = await Model.load(KJV_F32, { nCtx: 64, kvF16: false });
  });
  afterAll(() => model.close());

  it.each([2 ** 31, 2 ** 32, 2 ** 32 + 1, -1])('pos0 = %d is a RangeError', (pos0) => {
    const e = nativeError(() => model.native.eval([1], pos0));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(/^pos0 -?\d+ is out of range \(0 to 2147483647\)/);
  });

  // truncate past int32 keeps every cached position (clamped, never wrapped): native-range.test.ts

  it('evaluation still works after the refusals', () => {
    model.native.truncate(0);
    expect(model.native.eval([1, 2], 0).length).toBe(model.hp.nVocab);
  });
});
