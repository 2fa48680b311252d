/**
 * Importance matrices (issue 17 §2): `kiln imatrix` records the mean squared
 * input of every matmul, in llama.cpp's imatrix GGUF format (checked with
 * llama.cpp's own gguf-py, both ways), and `kiln quantize --imatrix`,
 * `kiln create --quantize --imatrix` and POST /api/create {imatrix} use it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { importance, readImatrix } from '../engine/quantize/imatrix.js';
import { Tokenizer } from '../engine/tokenizer/index.js';
import { cleanup, kiln, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { KJV_F32, KJV_HELDOUT } from './helpers/fixtures.js';
import { llamaSource, pythonWithNumpy } from './helpers/llama-src.js';

let dir: string;
let d: RunningDaemon;
let calib: string;
let imatrix: string;
const CHUNK = 64;

beforeAll(async () => {
  dir = tempHome('kiln-imatrix-');
  d = await startDaemon();
  calib = join(dir, 'calib.txt');
  writeFileSync(calib, readFileSync(KJV_HELDOUT, 'utf8').split('\n').slice(0, 6).join('\n'));
  imatrix = join(dir, 'kjv.imatrix');
  const r = await kiln(['imatrix', KJV_F32, calib, '-o', imatrix, '--chunk', String(CHUNK)], d.env);
  expect(r.stderr).toMatch(/computing importance matrix: 100% .* tokens\/s/);
  expect(r.code).toBe(0);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
  cleanup(dir);
});

/** blk.0's attention input, computed here from the F32 weights: rmsnorm(token_embd[t]) * attn_norm, per token. */
function layer0AttnInputSquares(tokens: number[]): Float64Array {
  const f = readGGUFFileSync(KJV_F32);
  const buf = readFileSync(KJV_F32);
  const tensor = (name: string) => {
    const t = f.tensors.find((x) => x.name === name)!;
    return new Float32Array(buf.buffer.slice(buf.byteOffset + t.absOffset, buf.byteOffset + t.absOffset + t.byteSize));
  };
  const emb = tensor('token_embd.weight');
  const g = tensor('blk.0.attn_norm.weight');
  const eps = Number(f.kv.get('llama.attention.layer_norm_rms_epsilon')!.value);
  const n = g.length;
  const sums = new Float64Array(n);
  for (const t of tokens) {
    const row = emb.subarray(t * n, (t + 1) * n);
    let ss = 0;
    for (const v of row) ss += v * v;
    const scale = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; i++) sums[i] += (row[i] * scale * g[i]) ** 2;
  }
  return sums;
}

describe('kiln imatrix', () => {
  it('records every matmul input: blk.0 attention sums equal an independent computation', () => {
    const m = readImatrix(imatrix);
    const f = readGGUFFileSync(KJV_F32);
    const nLayer = Number(f.kv.get('llama.block_count')!.value);
    // 7 matmuls per layer, and the output matrix
    expect(m.entries.size).toBe(nLayer * 7 + 1);
    expect(m.chunkSize).toBe(CHUNK);
    expect(m.datasets).toEqual(['calib.txt']);

    const tok = Tokenizer.fromGGUF(f);
    const text = tok.encode(readFileSync(calib, 'utf8'), { addSpecial: false });
    // chunks of CHUNK - 1 tokens, each after BOS
    const inputs: number[] = [];
    for (let s = 0; s < text.length; s += CHUNK - 1) inputs.push(tok.bos!, ...text.slice(s, s + CHUNK - 1));
    expect(m.chunkCount).toBe(Math.ceil(text.length / (CHUNK - 1)));

    const want = layer0AttnInputSquares(inputs);
    for (const w of ['attn_q', 'attn_k', 'attn_v']) {
      const e = m.entries.get(`blk.0.${w}.weight`)!;
      expect(e.counts[0]).toBe(inputs.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs(e.sum2[i] - want[i]) / want[i], `${w} column ${i}`).toBeLessThan(1e-4);
    }
    for (const [name, e] of m.entries) expect(e.counts[0], name).toBe(inputs.length);
    expect(m.entries.get('blk.0.ffn_down.weight')!.ncols).toBe(f.tensors.find((t) => t.name === 'blk.0.ffn_down.weight')!.dims[0]);
  });

  it("is read by llama.cpp's gguf-py as llama.cpp's imatrix tool writes it", () => {
    const out = execFileSync(pythonWithNumpy(), [join(import.meta.dirname, 'oracle', 'imatrix_gguf.py'), join(llamaSource(), 'gguf-py'), 'read', imatrix], {
      maxBuffer: 1 << 26,
    }).toString();
    const py = JSON.parse(out) as { type: string; datasets: string[]; chunk_count: number; chunk_size: number; tensors: { name: string; shape: number[]; type: number; values: number[] }[] };
    const m = readImatrix(imatrix);
    expect(py.type).toBe('imatrix');
    expect(py.datasets).toEqual(['calib.txt']);
    expect([py.chunk_count, py.chunk_size]).toEqual([m.chunkCount, CHUNK]);
    expect(py.tensors.length).toBe(2 * m.entries.size);
    for (const [name, e] of m.entries) {
      const s = py.tensors.find((t) => t.name === `${name}.in_sum2`)!;
      const c = py.tensors.find((t) => t.name === `${name}.counts`)!;
      expect([s.type, c.type]).toEqual([0, 0]);
      expect(s.shape).toEqual([e.ncols, 1]);
      expect(c.shape).toEqual([1, 1]);
      expect(c.values).toEqual([e.counts[0]]);
      expect(s.values[7]).toBeCloseTo(e.sum2[7], 2);
    }
  });

  it('reads an imatrix written the way llama.cpp writes it (expert matrices and unused ones included)', () => {
    const file = join(dir, 'py.imatrix');
    execFileSync(pythonWithNumpy(), [join(import.meta.dirname, 'oracle', 'imatrix_gguf.py'), join(llamaSource(), 'gguf-py'), 'write', file]);
    const m = readImatrix(file);
    expect(m.datasets).toEqual(['calibration.txt']);
    expect([m.chunkCount, m.chunkSize]).toEqual([3, 512]);
    const imp = importance(m);
    // means: in_sum2 / counts; an expert that saw no token weighs every column alike
    expect(Array.from(imp.get('blk.0.attn_q.weight')!.subarray(0, 3))).toEqual([1, 2, 3]);
    const ex = imp.get('blk.0.ffn_up_exps.weight')!;
    expect(ex.length).toBe(64);
    expect([ex[0], ex[31], ex[32], ex[63]]).toEqual([2, 2, 1, 1]);
  });

  it('refuses a file that is not an imatrix, clearly', async () => {
    const r = await kiln(['quantize', KJV_F32, join(dir, 'x.gguf'), 'q4_K_M', '--imatrix', KJV_F32], d.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not an imatrix file/);
    expect(existsSync(join(dir, 'x.gguf'))).toBe(false);
  });
});

describe('quantizing with an imatrix', () => {
  it('kiln quantize --imatrix changes the codes (the importance weights the error)', async () => {
    const plain = join(dir, 'plain.gguf');
    const weighted = join(dir, 'weighted.gguf');
    expect((await kiln(['quantize', KJV_F32, plain, 'q4_K_M'], d.env)).code).toBe(0);
    const r = await kiln(['quantize', KJV_F32, weighted, 'q4_K_M', '--imatrix', imatrix], d.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const a = readGGUFFileSync(plain);
    const b = readGGUFFileSync(weighted);
    expect(b.tensors.map((t) => [t.name, t.type])).toEqual(a.tensors.map((t) => [t.name, t.type]));
    const bytes = (p: string, name: string) => {
      const f = readGGUFFileSync(p);
      const t = f.tensors.find((x) => x.name === name)!;
      return readFileSync(p).subarray(t.absOffset, t.absOffset + t.byteSize);
    };
    expect(bytes(plain, 'blk.0.attn_q.weight').equals(bytes(weighted, 'blk.0.attn_q.weight'))).toBe(false);
    // token_embd has no imatrix entry (a lookup, not a matmul): quantized as without one
    expect(bytes(plain, 'token_embd.weight').equals(bytes(weighted, 'token_embd.weight'))).toBe(true);
  });

  it('POST /api/create {quantize, imatrix} takes the imatrix as an uploaded blob; an unknown blob is a 400', async () => {
    const ollama = new Ollama({ host: d.url });
    const data = readFileSync(imatrix);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const missing = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'kjv:im', from: 'kjv', quantize: 'q4_K_M', imatrix: digest, stream: false }) });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toMatch(/not on the server/);
    expect((await fetch(`${d.url}/api/blobs/${digest}`, { method: 'POST', body: data })).status).toBe(201);
    const noQuant = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'kjv:im', from: 'kjv', imatrix: digest, stream: false }) });
    expect(noQuant.status).toBe(400);
    const statuses: string[] = [];
    const res = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'kjv:im', from: 'kjv', quantize: 'q4_K_M', imatrix: digest }) });
    expect(res.status).toBe(200);
    for (const line of (await res.text()).trim().split('\n')) statuses.push((JSON.parse(line) as { status: string }).status);
    expect(statuses).toContain('quantizing F16 model to Q4_K_M');
    expect(statuses.at(-1)).toBe('success');
    expect((await ollama.show({ model: 'kjv:im' })).details.quantization_level).toBe('Q4_K_M');
  });

  it('kiln create --quantize --imatrix uploads the imatrix and quantizes with it', async () => {
    const mf = join(dir, 'Modelfile');
    writeFileSync(mf, `FROM ${KJV_F32}\n`);
    const r = await kiln(['create', 'kjv:im2', '-f', mf, '--quantize', 'q3_K_M', '--imatrix', imatrix], d.env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bad = await kiln(['create', 'kjv:im3', '-f', mf, '--imatrix', imatrix], d.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--imatrix needs --quantize/);
  });
});
