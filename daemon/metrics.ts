/**
 * The daemon's counters and histograms, and their rendering in the
 * Prometheus text exposition format (version 0.0.4) for GET /metrics
 * (KILN_METRICS=1). Recording is always on and costs a map update; only the
 * route is optional. Gauges (queue depth, loaded models) are read from the
 * scheduler when scraped.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';

type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(l: Labels, extra?: [string, string]): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A number as the format writes it (+Inf, -Inf, NaN spelled out). */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}

const keyOf = (l: Labels) => JSON.stringify(Object.entries(l));

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  /** `labelled`: its series carry labels, so none is shown before the first; an unlabelled counter shows 0. */
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelled = true,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) return;
    const k = keyOf(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }

  render(): string {
    let out = header(this.name, this.help, 'counter');
    if (this.values.size === 0 && !this.labelled) out += `${this.name} 0\n`;
    for (const { labels, value } of this.values.values()) out += `${this.name}${labelText(labels)} ${num(value)}\n`;
    return out;
  }
}

export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, v: number): void {
    if (!Number.isFinite(v)) return;
    const k = keyOf(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) s.counts[i]++;
    s.sum += v;
    s.count++;
  }

  render(): string {
    let out = header(this.name, this.help, 'histogram');
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((b, i) => (out += `${this.name}_bucket${labelText(labels, ['le', num(b)])} ${counts[i]}\n`));
      out += `${this.name}_bucket${labelText(labels, ['le', '+Inf'])} ${count}\n`;
      out += `${this.name}_sum${labelText(labels)} ${num(sum)}\n`;
      out += `${this.name}_count${labelText(labels)} ${count}\n`;
    }
    return out;
  }
}

function gauge(name: string, help: string, rows: { labels?: Labels; value: number }[]): string {
  let out = header(name, help, 'gauge');
  for (const r of rows) out += `${name}${labelText(r.labels ?? {})} ${num(r.value)}\n`;
  return out;
}

const LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const TOKEN_LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What a scrape reads from the scheduler. */
export interface MetricsSource {
  queueDepth(): number;
  loaded(): { name: string; bytes: number }[];
}

export class Metrics {
  readonly requests = new Counter('kiln_http_requests_total', 'HTTP requests answered, by method, route and status');
  readonly promptTokens = new Counter('kiln_prompt_tokens_total', 'Tokens read from prompts (tokens in), by model');
  readonly generatedTokens = new Counter('kiln_generated_tokens_total', 'Tokens generated (tokens out), by model');
  readonly ttft = new Histogram('kiln_time_to_first_token_seconds', 'From the runner taking a generation (after queue and load) to its first token, by model', LATENCY);
  readonly itl = new Histogram('kiln_inter_token_latency_seconds', 'Time between generated tokens, by model', TOKEN_LATENCY);
  readonly pullBytes = new Counter('kiln_pull_bytes_total', 'Bytes downloaded by pulls', false);
  readonly pulls = new Counter('kiln_pulls_total', 'Pulls finished, by result (success, failure or cancelled)');

  /** One generation as the runner streams it: call `chunk` per piece, `done` at the end. */
  generation(model: string): { chunk(tokens: number): void; done(promptTokens: number, evalTokens: number): void } {
    const labels = { model };
    const t0 = performance.now();
    let last: number | undefined;
    return {
      chunk: (tokens) => {
        const now = performance.now();
        if (last === undefined) this.ttft.observe(labels, (now - t0) / 1000);
        else if (tokens > 0) for (let i = 0; i < tokens; i++) this.itl.observe(labels, (now - last) / 1000 / tokens);
        last = now;
      },
      done: (promptTokens, evalTokens) => {
        this.promptTokens.inc(labels, promptTokens);
        this.generatedTokens.inc(labels, evalTokens);
      },
    };
  }

  render(source: MetricsSource): string {
    const loaded = source.loaded();
    return [
      this.requests.render(),
      this.promptTokens.render(),
      this.generatedTokens.render(),
      this.ttft.render(),
      this.itl.render(),
      gauge('kiln_queue_depth', 'Requests waiting for a slot of a model', [{ value: source.queueDepth() }]),
      gauge('kiln_loaded_models', 'Models loaded now', [{ value: loaded.length }]),
      gauge('kiln_loaded_model_bytes', 'Estimated memory of each loaded model, in bytes', loaded.map((m) => ({ labels: { model: m.name }, value: m.bytes }))),
      this.pullBytes.render(),
      this.pulls.render(),
    ].join('');
  }
}

/** The daemon's one set of metrics. */
export const metrics = new Metrics();

/**
 * Counts every answered request by its route pattern (not its path: a
 * model name in a path must not make a new series), method and status.
 * Placed first, so refusals (host, key) are counted too.
 */
export function countRequests(m: Metrics = metrics): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const route = matchedRoutes(c).filter((r) => r.method !== 'ALL').at(-1)?.path ?? 'unmatched';
    m.requests.inc({ method: c.req.method, route, status: String(c.res.status) });
  };
}

/**
 * A pull's progress callback that also counts downloaded bytes: per blob,
 * what `completed` grew by since its first report (a blob already present,
 * or the resumed part of one, first reports what it had).
 */
export function countPullBytes<P extends { digest?: string; completed?: number }>(emit: (p: P) => void, m: Metrics = metrics): (p: P) => void {
  const seen = new Map<string, number>();
  return (p) => {
    if (p.digest !== undefined && typeof p.completed === 'number') {
      const prev = seen.get(p.digest);
      if (prev !== undefined && p.completed > prev) m.pullBytes.inc({}, p.completed - prev);
      if (prev === undefined || p.completed > prev) seen.set(p.digest, p.completed);
    }
    emit(p);
  };
}
