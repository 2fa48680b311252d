/**
 * GET /metrics (KILN_METRICS=1) on the real daemon: the text parses as
 * Prometheus exposition (a small parser below checks the grammar: HELP/TYPE
 * lines, sample lines with escaped labels, histogram buckets cumulative and
 * ending in +Inf = _count), and the counters move after real requests:
 * generations through the ollama client, a pull from the real docker-registry,
 * a pull that fails.
 */
import { randomBytes } from 'node:crypto';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';
import { putModel, registryAvailable, startRegistry, type Registry } from './helpers/registry.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Parses the Prometheus text format (0.0.4), throwing on anything outside its grammar. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, sample.length - suffix.length));
      if (f && (suffix === '' || f.type === 'histogram')) return f;
    }
    return undefined;
  };
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) continue; // a plain comment
      if (!NAME.test(m[2])) throw new Error(`bad metric name in: ${line}`);
      const f = families.get(m[2]) ?? { type: 'untyped', help: '', samples: [] };
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`bad type in: ${line}`);
        if (f.samples.length) throw new Error(`TYPE after samples: ${line}`);
        f.type = m[3];
      } else f.help = m[3];
      families.set(m[2], f);
      continue;
    }
    if (line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    let rest = m[3] ?? '';
    while (rest.length) {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (!l) throw new Error(`bad labels in: ${line}`);
      if (l[1] in labels) throw new Error(`repeated label in: ${line}`);
      labels[l[1]] = l[2].replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : m[4] === 'NaN' ? NaN : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') throw new Error(`bad value in: ${line}`);
    const f = familyOf(m[1]);
    if (!f) throw new Error(`sample without a TYPE: ${line}`);
    f.samples.push({ name: m[1], labels, value });
  }
  // histograms: cumulative buckets ending in +Inf, which equals _count
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of f.samples.filter((x) => x.name === `${name}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${name}_bucket without le`);
      const k = JSON.stringify(rest);
      series.set(k, [...(series.get(k) ?? []), s]);
    }
    for (const [k, buckets] of series) {
      const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      if (les.at(-1) !== Infinity) throw new Error(`${name}${k}: last bucket is not +Inf`);
      for (let i = 1; i < buckets.length; i++) {
        if (!(les[i] > les[i - 1]) || buckets[i].value < buckets[i - 1].value) throw new Error(`${name}${k}: buckets not cumulative`);
      }
      const count = f.samples.find((s) => s.name === `${name}_count` && JSON.stringify(s.labels) === k);
      if (!count || count.value !== buckets.at(-1)!.value) throw new Error(`${name}${k}: _count differs from the +Inf bucket`);
    }
  }
  return families;
}

function value(fams: Map<string, Family>, sample: string, labels: Record<string, string> = {}): number {
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  const f = fams.get(fams.has(sample) ? sample : base);
  const s = f?.samples.find((x) => x.name === sample && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

let d: RunningDaemon;
let reg: Registry | undefined;

async function scrape(): Promise<Map<string, Family>> {
  const r = await fetch(`${d.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await r.text());
}

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_METRICS: '1', KILN_PULL_RETRIES: '0', KILN_PULL_RETRY_DELAY: '10' });
});

afterAll(async () => {
  await d?.stop();
  await reg?.stop();
  if (d) cleanup(d.home);
});

describe('GET /metrics', () => {
  it('parses as Prometheus exposition and has every family, before any request', async () => {
    const f = await scrape();
    expect([...f.keys()].sort()).toEqual(
      [
        'kiln_generated_tokens_total', 'kiln_http_requests_total', 'kiln_inter_token_latency_seconds', 'kiln_loaded_model_bytes', 'kiln_loaded_models',
        'kiln_prompt_tokens_total', 'kiln_pull_bytes_total', 'kiln_pulls_total', 'kiln_queue_depth', 'kiln_time_to_first_token_seconds',
      ].sort(),
    );
    expect(f.get('kiln_time_to_first_token_seconds')!.type).toBe('histogram');
    expect(value(f, 'kiln_loaded_models')).toBe(0);
    expect(value(f, 'kiln_queue_depth')).toBe(0);
  });

  it('counts requests by route and status, tokens in and out, and the latency histograms', async () => {
    const ollama = new Ollama({ host: d.url });
    const before = await scrape();
    const g = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { num_predict: 8, temperature: 0 } });
    const c = await ollama.chat({ model: 'kjv', messages: [{ role: 'user', content: 'light' }], options: { num_predict: 5, temperature: 0 } });
    await ollama.show({ model: 'no-such-model' }).catch(() => {});
    await fetch(`${d.url}/api/nowhere`);
    const f = await scrape();
    const req = (labels: Record<string, string>) => value(f, 'kiln_http_requests_total', labels) - value(before, 'kiln_http_requests_total', labels);
    expect(req({ method: 'POST', route: '/api/generate', status: '200' })).toBe(1);
    expect(req({ method: 'POST', route: '/api/chat', status: '200' })).toBe(1);
    expect(req({ method: 'POST', route: '/api/show', status: '404' })).toBe(1);
    expect(req({ method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(req({ method: 'GET', route: '/metrics', status: '200' })).toBe(1);

    const model = f.get('kiln_generated_tokens_total')!.samples[0].labels.model;
    expect(model).toMatch(/kjv/);
    expect(value(f, 'kiln_generated_tokens_total', { model })).toBe(g.eval_count + c.eval_count);
    expect(value(f, 'kiln_prompt_tokens_total', { model })).toBe(g.prompt_eval_count + c.prompt_eval_count);
    expect(value(f, 'kiln_time_to_first_token_seconds_count', { model })).toBe(2);
    expect(value(f, 'kiln_time_to_first_token_seconds_sum', { model })).toBeGreaterThan(0);
    // every token after the first of each generation is one interval
    expect(value(f, 'kiln_inter_token_latency_seconds_count', { model })).toBe(g.eval_count - 1 + c.eval_count - 1);
    expect(value(f, 'kiln_loaded_models')).toBe(1);
    expect(value(f, 'kiln_loaded_model_bytes', { model })).toBeGreaterThan(10_000_000);
  });

  it('counts a failed pull', async () => {
    const before = await scrape();
    await new Ollama({ host: d.url }).pull({ model: '127.0.0.1:1/nobody/nothing', insecure: true }).catch(() => {});
    const f = await scrape();
    expect(value(f, 'kiln_pulls_total', { result: 'failure' }) - value(before, 'kiln_pulls_total', { result: 'failure' })).toBe(1);
    expect(value(f, 'kiln_pull_bytes_total')).toBe(value(before, 'kiln_pull_bytes_total'));
  });

  it.skipIf(!registryAvailable())('counts the bytes a pull downloads (once: a second pull of the same blobs downloads nothing)', async () => {
    reg = await startRegistry();
    const layer = randomBytes(300_000);
    await putModel(reg, 'test/blob', 'latest', layer);
    const config = Buffer.from('{"model_format":"gguf"}');
    const before = await scrape();
    const ollama = new Ollama({ host: d.url });
    await ollama.pull({ model: `${reg.host}/test/blob:latest`, insecure: true });
    const f = await scrape();
    expect(value(f, 'kiln_pull_bytes_total') - value(before, 'kiln_pull_bytes_total')).toBe(layer.length + config.length);
    expect(value(f, 'kiln_pulls_total', { result: 'success' }) - value(before, 'kiln_pulls_total', { result: 'success' })).toBe(1);
    await ollama.pull({ model: `${reg.host}/test/blob:latest`, insecure: true });
    const again = await scrape();
    expect(value(again, 'kiln_pull_bytes_total')).toBe(value(f, 'kiln_pull_bytes_total'));
    expect(value(again, 'kiln_pulls_total', { result: 'success' })).toBe(value(f, 'kiln_pulls_total', { result: 'success' }) + 1);
  });
});

describe('the exposition parser', () => {
  it('rejects what is not the format (so a pass means something)', () => {
    expect(() => parseExposition('# TYPE a counter\na 1')).toThrow(/newline/);
    expect(() => parseExposition('# TYPE a counter\na{x="1} 1\n')).toThrow(/bad labels/);
    expect(() => parseExposition('# TYPE a counter\na one\n')).toThrow(/bad value/);
    expect(() => parseExposition('b 1\n')).toThrow(/without a TYPE/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n')).toThrow(/cumulative/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_count 3\n')).toThrow(/_count/);
    const ok = parseExposition('# HELP a A \\\\ thing\n# TYPE a counter\na{x="q\\"uote",y="new\\nline"} 2\n');
    expect(ok.get('a')!.samples[0].labels).toEqual({ x: 'q"uote', y: 'new\nline' });
  });
});
