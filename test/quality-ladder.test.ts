/**
 * The quality ladder on the user's own model (issue 17 §4): `kiln quantize IN
 * --ladder` through the real binary on kjv-f32 with a short text, its figures
 * checked against engine/eval run here on the very files it measured (kept
 * with --keep), its refusals, and `kiln create --quantize q4_K_M --report` then
 * `kiln show --quality` and /api/show through the real daemon.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatKld } from '../cli/commands/quality.js';
import { humanBytes } from '../cli/format.js';
import type { ShowResponse } from '../daemon/api/types.js';
import { klDivergence } from '../engine/eval/kl.js';
import { perplexity } from '../engine/eval/perplexity.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { Model } from '../engine/model/model.js';
import { cleanup, KILN, kiln, kilnEnv, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { KJV_F32, KJV_HELDOUT } from './helpers/fixtures.js';

let dir: string;
let tmp: string;
let textFile: string;
const text = readFileSync(KJV_HELDOUT, 'utf8').slice(0, 700);

beforeAll(() => {
  dir = tempHome('kiln-ladder-');
  tmp = tempHome('kiln-ladder-tmp-');
  textFile = join(dir, 'text.txt');
  writeFileSync(textFile, text);
});

afterAll(() => {
  cleanup(dir);
  cleanup(tmp);
});

/** The table's rows as cells (columns are at least three spaces apart). */
function rows(stdout: string): string[][] {
  const lines = stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^quality of kjv-f32\.gguf over text\.txt: \d+ tokens in windows of 256$/);
  expect(lines[1].split(/\s{3,}/)).toEqual(['TYPE', 'SIZE', 'BITS/W', 'KLD', 'SAME TOP', 'PPL', 'TOK/S']);
  return lines.slice(2).map((l) => l.split(/\s{3,}/));
}

function bitsPerWeight(path: string): number {
  const f = readGGUFFileSync(path);
  const bytes = f.tensors.reduce((s, t) => s + t.byteSize, 0);
  const n = f.tensors.reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0);
  return (bytes * 8) / n;
}

describe('kiln quantize --ladder', () => {
  it('prints a sane, ordered table whose figures are engine/eval\'s on the files it measured', async () => {
    const keep = join(dir, 'kept');
    const env = kilnEnv(dir, { TMPDIR: tmp });
    mkdirSync(keep);
    const r = await kiln(['quantize', KJV_F32, '--ladder', 'q2_K,q8_0', '--text', textFile, '--keep', keep], env);
    expect(r.code, r.stderr).toBe(0);
    // progress as it went, per type and per window
    expect(r.stderr).toMatch(/scoring the source window 1\/\d+\n/);
    expect(r.stderr).toMatch(/quantizing to Q2_K\n[^]*scoring Q2_K window 1\/\d+\n[^]*measuring the speed of Q2_K\n/);
    // the work's temporary files are gone; only the kept ones remain
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(keep).sort()).toEqual(['kjv-f32-q2_K.gguf', 'kjv-f32-q8_0.gguf']);

    const t = rows(r.stdout);
    expect(t.map((c) => c[0])).toEqual(['F32 (source)', 'Q8_0', 'Q2_K']);
    const [src, q8, q2] = t;
    expect(src.slice(1, 5)).toEqual([humanBytes(statSync(KJV_F32).size), '32.00', '-', '100.0%']);
    // more bits: lower KLD, more agreement, perplexity nearer the source's
    const num = (s: string) => Number(s.replace('%', ''));
    expect(num(q8[3])).toBeLessThan(num(q2[3]));
    expect(num(q8[4])).toBeGreaterThan(num(q2[4]));
    expect(Math.abs(num(q8[5]) - num(src[5]))).toBeLessThan(Math.abs(num(q2[5]) - num(src[5])));
    for (const row of t) expect(num(row[6])).toBeGreaterThan(0);

    // the same figures from engine/eval, computed here
    const f32 = await Model.load(KJV_F32, { nCtx: 256 });
    try {
      expect(src[5]).toBe((await perplexity(f32, text)).perplexity.toFixed(3));
      for (const [row, mix] of [[q8, 'q8_0'], [q2, 'q2_K']] as const) {
        const path = join(keep, `kjv-f32-${mix}.gguf`);
        const q = await Model.load(path, { nCtx: 256 });
        try {
          const kl = await klDivergence(f32, q, text);
          expect(row.slice(1, 6)).toEqual([
            humanBytes(statSync(path).size),
            bitsPerWeight(path).toFixed(2),
            formatKld(kl.meanKl),
            `${(kl.top1Agreement * 100).toFixed(1)}%`,
            kl.other.perplexity.toFixed(3),
          ]);
        } finally {
          q.close();
        }
      }
    } finally {
      f32.close();
    }
  });

  it('refuses an unknown type, a missing text file and a quantized source before any work', async () => {
    const env = kilnEnv(dir, { TMPDIR: tmp });
    const [unknown, missing, quantized] = await Promise.all([
      kiln(['quantize', KJV_F32, '--ladder=q4_0,q9_K'], env),
      kiln(['quantize', KJV_F32, '--ladder', '--text', join(dir, 'nope.txt')], env),
      kiln(['quantize', join(dir, 'kept', 'kjv-f32-q8_0.gguf'), '--ladder', 'q4_0'], env),
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unsupported quantization type 'q9_K'/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read the text file .*nope\.txt: no such file/);
    expect(quantized.code).toBe(1);
    expect(quantized.stderr).toMatch(/is already quantized .* quantize from the F32, F16 or BF16 file instead/);
    for (const r of [unknown, missing, quantized]) expect(r.stdout).toBe('');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('removes its temporary files when stopped with SIGTERM midway', async () => {
    const child = spawn(process.execPath, [KILN, 'quantize', KJV_F32, '--ladder', 'q8_0', '--text', textFile], { env: kilnEnv(dir, { TMPDIR: tmp }), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    await new Promise<void>((res) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        if (/scoring the source window 1/.test(err)) res();
      });
    });
    expect(readdirSync(tmp)).toHaveLength(1); // the work folder exists while it runs
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code).toBe(143);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('kiln create --quantize TYPE --report', () => {
  let d: RunningDaemon;
  let tmpD: string;
  beforeAll(async () => {
    tmpD = tempHome('kiln-ladder-dtmp-');
    d = await startDaemon(undefined, { TMPDIR: tmpD });
  });
  afterAll(async () => {
    await d?.stop();
    if (d) cleanup(d.home);
    cleanup(tmpD);
  });

  it('saves the report with the model; kiln show --quality and /api/show give it back', async () => {
    writeFileSync(join(dir, 'Modelfile'), 'FROM kjv\nSYSTEM You are a scribe.\n');
    const c = await kiln(['create', 'kjv-q4', '-f', join(dir, 'Modelfile'), '--quantize', 'q4_K_M', '--report', '--text', textFile], d.env);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/quantizing F16 model to Q4_K_M/);
    expect(c.stdout).toMatch(/scoring Q4_K_M/);

    const q = await kiln(['show', 'kjv-q4', '--quality'], d.env);
    expect(q.code, q.stderr).toBe(0);
    const lines = q.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^quality of kjv:latest over text\.txt: \d+ tokens in windows of 256$/);
    const t = lines.slice(2).map((l) => l.split(/\s{3,}/));
    expect(t.map((c) => c[0])).toEqual(['F16 (source)', 'Q4_K_M']);

    const res = await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: 'kjv-q4' }) });
    const show = (await res.json()) as ShowResponse;
    expect(show.details.quantization_level).toBe('Q4_K_M');
    const row = show.quality!.rows[1];
    expect(row.type).toBe('Q4_K_M');
    expect(row.kld).toBeGreaterThan(0);
    expect(row.kld).toBeLessThan(0.05);
    expect(row.same_top).toBeGreaterThan(0.8);
    expect(t[1][3]).toBe(formatKld(row.kld));
    expect(show.quality!.text).toBe('text.txt');
    // the report measured the model layer the manifest names
    const tags = (await (await fetch(`${d.url}/api/tags`)).json()) as { models: { name: string; size: number }[] };
    expect(row.size).toBeLessThan(tags.models.find((m) => m.name === 'kjv-q4:latest')!.size);
    expect(readdirSync(tmpD)).toEqual([]);

    // a model made from it with the same weights keeps the report; one without a report has none
    const sys = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'kjv-q4-terse', from: 'kjv-q4', system: 'Be terse.', stream: false }) });
    expect(sys.status).toBe(200);
    expect(((await (await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: 'kjv-q4-terse' }) })).json()) as ShowResponse).quality?.rows[1].kld).toBe(row.kld);
    const none = await kiln(['show', 'kjv', '--quality'], d.env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/kjv has no quality report: make one with kiln create/);
  });

  it('answers 400 to a report without quantize, and the CLI refuses it before asking', async () => {
    const r = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'x', from: 'kjv', report: true, stream: false }) });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/report needs quantize/);
    const c = await kiln(['create', 'x', '-f', join(dir, 'Modelfile'), '--report'], d.env);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/--report needs --quantize TYPE/);
    expect(existsSync(join(d.home, 'models', 'manifests', 'registry.ollama.ai', 'library', 'x'))).toBe(false);
  });
});
