/**
 * KV cache types through the real daemon and the official ollama client:
 * KILN_KV_CACHE_TYPE sets every model's cache, a Modelfile PARAMETER
 * kv_cache_type (or _k / _v) overrides it per model, /api/ps reports the
 * types and a size that shrinks with them, generation works with each, and
 * an unknown type is a 400 from /api/create and from a request.
 */
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

interface Ps {
  models: { name: string; size: number; kv_cache?: { type_k: string; type_v: string; bytes: number } }[];
}

let d: RunningDaemon;
let ollama: Ollama;

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_KV_CACHE_TYPE: 'q8_0', KILN_NUM_PARALLEL: '1' });
  ollama = new Ollama({ host: d.url });
  await ollama.create({ model: 'kjv-q4', from: 'kjv', parameters: { kv_cache_type: 'q4_0' } as never });
  await ollama.create({ model: 'kjv-f16', from: 'kjv', parameters: { kv_cache_type: 'f16' } as never });
  await ollama.create({ model: 'kjv-mixed', from: 'kjv', parameters: { kv_cache_type_v: 'q4_0' } as never });
}, 60_000);

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

async function loaded(model: string): Promise<{ text: string; ps: Ps['models'][number] }> {
  const r = await ollama.generate({ model, prompt: 'In the beginning', options: { temperature: 0, num_predict: 24, num_ctx: 512 } });
  const ps = (await fetch(`${d.url}/api/ps`).then((x) => x.json())) as Ps;
  const m = ps.models.find((x) => x.name === `${model}:latest`)!;
  await ollama.generate({ model, prompt: '', keep_alive: 0 }); // unload: the next model's size stands alone
  return { text: r.response, ps: m };
}

describe('KV cache types through the daemon', () => {
  it('KILN_KV_CACHE_TYPE and the Modelfile PARAMETERs choose the cache; /api/ps shows the types and the smaller size', async () => {
    const f16 = await loaded('kjv-f16');
    const q8 = await loaded('kjv');
    const q4 = await loaded('kjv-q4');
    const mixed = await loaded('kjv-mixed');
    expect(f16.ps.kv_cache).toMatchObject({ type_k: 'f16', type_v: 'f16' });
    expect(q8.ps.kv_cache).toMatchObject({ type_k: 'q8_0', type_v: 'q8_0' });
    expect(q4.ps.kv_cache).toMatchObject({ type_k: 'q4_0', type_v: 'q4_0' });
    expect(mixed.ps.kv_cache).toMatchObject({ type_k: 'q8_0', type_v: 'q4_0' });
    // q8_0 is 34 bytes per 32 values, q4_0 18, f16 64
    expect(q8.ps.kv_cache!.bytes / f16.ps.kv_cache!.bytes).toBeCloseTo(34 / 64, 6);
    expect(q4.ps.kv_cache!.bytes / f16.ps.kv_cache!.bytes).toBeCloseTo(18 / 64, 6);
    expect(mixed.ps.kv_cache!.bytes / f16.ps.kv_cache!.bytes).toBeCloseTo(52 / 128, 6);
    expect(f16.ps.size - q4.ps.size).toBe(f16.ps.kv_cache!.bytes - q4.ps.kv_cache!.bytes);
    console.log(
      `kjv, num_ctx 512, one slot: /api/ps size f16 ${f16.ps.size}, q8_0 ${q8.ps.size}, q4_0 ${q4.ps.size}, q8_0/q4_0 ${mixed.ps.size} ` +
        `(KV cache ${f16.ps.kv_cache!.bytes} / ${q8.ps.kv_cache!.bytes} / ${q4.ps.kv_cache!.bytes} / ${mixed.ps.kv_cache!.bytes} bytes)`,
    );
    console.log(`continuations: f16 ${JSON.stringify(f16.text)}\n  q8_0 ${JSON.stringify(q8.text)}\n  q4_0 ${JSON.stringify(q4.text)}`);
    for (const r of [f16, q8, q4, mixed]) expect(r.text.length).toBeGreaterThan(10);
  }, 120_000);

  it('a request may choose the cache type in its options', async () => {
    const r = await ollama.generate({ model: 'kjv-f16', prompt: 'And God said', options: { num_predict: 8, kv_cache_type: 'q4_0' } as never });
    expect(r.response.length).toBeGreaterThan(0);
    const ps = (await fetch(`${d.url}/api/ps`).then((x) => x.json())) as Ps;
    expect(ps.models.find((m) => m.name === 'kjv-f16:latest')?.kv_cache).toMatchObject({ type_k: 'q4_0', type_v: 'q4_0' });
  }, 60_000);

  it('an unknown type is a 400 from /api/create and from a request, naming the option', async () => {
    const create = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'bad', from: 'kjv', parameters: { kv_cache_type: 'q5_1' } }) });
    expect(create.status).toBe(400);
    expect((await create.json()).error).toMatch(/parameters\.kv_cache_type: .*"q5_1" is not a KV cache type \(f16, q8_0, q4_0\)/);
    const gen = await fetch(`${d.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'kjv', prompt: 'x', stream: false, options: { kv_cache_type_k: 'int8' } }) });
    expect(gen.status).toBe(400);
    expect((await gen.json()).error).toMatch(/option kv_cache_type_k: "int8" is not a KV cache type/);
  });
});
