import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { planQuantization } from '../engine/quantize/policy.js';
import { cleanup, kiln, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { KJV_F16, KJV_F32 } from './helpers/fixtures.js';

let dir: string;
let d: RunningDaemon;

beforeAll(async () => {
  dir = tempHome('kiln-q-');
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
  cleanup(dir);
});

describe('kiln quantize', () => {
  it('writes a Q4_K_M file whose tensor types follow the mix policy and whose metadata says so', async () => {
    const out = join(dir, 'kjv-q4_K_M.gguf');
    const r = await kiln(['quantize', KJV_F32, out, 'q4_K_M'], d.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/kjv-q4_K_M\.gguf: 21 MB → \d(\.\d)? MB in [\d.]+ s \(/);
    const q = readGGUFFileSync(out);
    const plan = planQuantization(readGGUFFileSync(KJV_F32), 'q4_K_M');
    expect(q.tensors.map((t) => [t.name, t.type])).toEqual(plan.map((p) => [p.name, p.to]));
    expect(q.kv.get('general.file_type')?.value).toBe(15);
    expect(q.kv.get('general.quantization_version')?.value).toBe(2);
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('refuses to quantize a file that is already quantized, leaving no output', async () => {
    const src = join(dir, 'kjv-q4_K_M.gguf');
    const out = join(dir, 'again.gguf');
    const r = await kiln(['quantize', src, out, 'q8_0'], d.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already quantized/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an unknown type and a file that is not a GGUF with clear errors', async () => {
    expect((await kiln(['quantize', KJV_F16, join(dir, 'x.gguf'), 'q9_K'], d.env)).stderr).toMatch(/unsupported quantization type 'q9_K'/);
    const r = await kiln(['quantize', join(dir, '..'), join(dir, 'x.gguf'), 'q8_0'], d.env);
    expect(r.code).toBe(1);
    expect(existsSync(join(dir, 'x.gguf'))).toBe(false);
  });

  it('quantizes through POST /api/create {from, quantize} with streamed progress', async () => {
    const ollama = new Ollama({ host: d.url });
    const stream = await ollama.create({ model: 'kjv:q8_0', from: 'kjv', quantize: 'q8_0', stream: true });
    const statuses: string[] = [];
    for await (const p of stream) statuses.push(p.status);
    expect(statuses).toContain('quantizing F16 model to Q8_0');
    expect(statuses.at(-1)).toBe('success');
    const s = await ollama.show({ model: 'kjv:q8_0' });
    expect(s.details.quantization_level).toBe('Q8_0');
    const listed = (await ollama.list()).models.find((m) => m.name === 'kjv:q8_0')!;
    expect(listed.size).toBeLessThan(7_000_000);
    expect(readdirSync(join(d.home, 'models', 'blobs')).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
