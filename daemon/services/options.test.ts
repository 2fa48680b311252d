import { describe, expect, it } from 'vitest';
import { runOptions } from './options.js';

const defaults = { contextLength: 4096, trainCtx: 2048 };

describe('request options', () => {
  it('overlays the request on the model parameters', () => {
    const r = runOptions({ temperature: 0.5, stop: ['<|eot_id|>'], num_ctx: 256 }, { temperature: 0, top_k: 1, seed: 42 }, defaults);
    expect(r).toEqual({ sampling: { temperature: 0, top_k: 1, seed: 42, stop: ['<|eot_id|>'], num_predict: 2560 }, numCtx: 256, kvTypes: { k: 'f16', v: 'f16' } });
  });

  it('reads the KV cache types: kv_cache_type_k/_v over kv_cache_type, the request over the Modelfile, both over the daemon default', () => {
    const d = { ...defaults, kvCache: { k: 'q8_0', v: 'q8_0' } as const };
    expect(runOptions({}, undefined, d).kvTypes).toEqual({ k: 'q8_0', v: 'q8_0' });
    expect(runOptions({ kv_cache_type: 'q4_0' }, undefined, d).kvTypes).toEqual({ k: 'q4_0', v: 'q4_0' });
    expect(runOptions({ kv_cache_type: 'q4_0' }, { kv_cache_type_k: 'F16' }, d).kvTypes).toEqual({ k: 'f16', v: 'q4_0' });
    expect(runOptions({ kv_cache_type_v: 'f16' }, { kv_cache_type: 'q8_0' }, defaults).kvTypes).toEqual({ k: 'q8_0', v: 'f16' });
  });

  it.each([['kv_cache_type', 'q5_1'], ['kv_cache_type_k', 8], ['kv_cache_type_v', 'f32']])('refuses %s %j with a 400 naming it', (key, value) => {
    expect(() => runOptions({}, { [key]: value }, defaults)).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST', message: expect.stringContaining(`option ${key}`) }));
  });

  it('caps the default context at the trained length but honours an explicit num_ctx', () => {
    expect(runOptions({}, undefined, defaults).numCtx).toBe(2048);
    expect(runOptions({}, undefined, { contextLength: 1024, trainCtx: 2048 }).numCtx).toBe(1024);
    expect(runOptions({}, { num_ctx: 8192 }, defaults).numCtx).toBe(8192);
  });

  it("reads num_gpu (a Modelfile PARAMETER or the request's): -1 or absent is automatic, 0 none", () => {
    expect(runOptions({}, undefined, defaults).numGpu).toBeUndefined();
    expect(runOptions({ num_gpu: '3' }, undefined, defaults).numGpu).toBe(3);
    expect(runOptions({ num_gpu: 3 }, { num_gpu: 0 }, defaults).numGpu).toBe(0);
    expect(runOptions({}, { num_gpu: -1 }, defaults).numGpu).toBeUndefined();
    expect(() => runOptions({}, { num_gpu: 2.5 }, defaults)).toThrow(/num_gpu/);
    expect(() => runOptions({}, { num_gpu: -2 }, defaults)).toThrow(/num_gpu/);
  });

  it('reads numbers written as strings (Modelfile PARAMETERs) and a single stop string', () => {
    expect(runOptions({ temperature: '0.7' }, { stop: 'END' } as never, defaults).sampling).toEqual({ temperature: 0.7, stop: ['END'], num_predict: 20480 });
  });

  it.each([
    [{ temperature: 'hot' }, /option temperature: "hot" is not a number/],
    [{ stop: [1] }, /option stop/],
    [{ num_ctx: 0 }, /num_ctx/],
    [{ num_ctx: 1.5 }, /num_ctx/],
  ])('refuses %j', (opts, msg) => {
    expect(() => runOptions({}, opts as never, defaults)).toThrow(msg);
  });

  it('limits an answer to ten contexts of tokens, as Ollama does, so a context shift cannot go on forever', () => {
    expect(runOptions({}, { num_ctx: 100 }, defaults).sampling.num_predict).toBe(1000);
    expect(runOptions({}, { num_ctx: 100, num_predict: -1 }, defaults).sampling.num_predict).toBe(1000);
    expect(runOptions({}, { num_ctx: 100, num_predict: 5000 }, defaults).sampling.num_predict).toBe(1000);
    expect(runOptions({}, { num_ctx: 100, num_predict: 42 }, defaults).sampling.num_predict).toBe(42);
    expect(runOptions({}, { num_ctx: 100, num_predict: -2 }, defaults).sampling.num_predict).toBe(-2); // fill the context: stops there
  });

  it('refuses options that are not an object', () => {
    expect(() => runOptions({}, [] as never, defaults)).toThrow(/options must be an object/);
  });
});
