import { KilnError } from '../../common/errors.js';
import { formatGrammar } from '../../engine/grammar/json-schema.js';
import type { Lease, Scheduler } from '../scheduler/scheduler.js';
import { parseKeepAlive } from '../scheduler/keep-alive.js';
import type { Config } from '../config.js';
import type { Store } from '../../store/index.js';
import type { LogprobsOption, Options, TokenLogprob } from '../api/types.js';
import type { RunnerStats } from '../runner/protocol.js';
import { runOptions, type RunOptions } from './options.js';
import { modelSpec, runnableModel, type RunnableModel } from './runnable.js';

/** What the generate/chat/embed services need from the daemon. */
export interface ServeDeps {
  config: Config;
  store: Store;
  scheduler: Scheduler;
  log: (m: string) => void;
}

/** A model resolved for one request, with its merged options and keep_alive. */
export interface Prepared {
  model: RunnableModel;
  options: RunOptions;
  keepAlive: number;
  /** process.hrtime.bigint() when the request arrived, for total_duration. */
  t0: bigint;
}

export async function prepare(deps: ServeDeps, name: string, req: { options?: Options; keep_alive?: string | number }): Promise<Prepared> {
  const t0 = process.hrtime.bigint();
  const model = await runnableModel(deps.store, name);
  const options = runOptions(model.layers.parameters, req.options, { contextLength: deps.config.contextLength, trainCtx: model.facts.trainCtx, kvCache: deps.config.kvCache });
  const keepAlive = parseKeepAlive(req.keep_alive ?? deps.config.keepAlive);
  return { model, options, keepAlive, t0 };
}

/**
 * Holds a slot of the model for one request: waits in its queue and loads it
 * if needed. The slot is released when the request ends or the moment the
 * client goes away (the runner finishes the cancelled work on that slot
 * before it starts the next request there).
 */
export async function holdSlot(deps: ServeDeps, p: Prepared, signal: AbortSignal): Promise<{ lease: Lease; loadDurationNs: number }> {
  const t = process.hrtime.bigint();
  const lease = await deps.scheduler.acquire(modelSpec(p.model, p.options), p.keepAlive, signal);
  if (signal.aborted) lease.release();
  else signal.addEventListener('abort', () => lease.release(), { once: true });
  return { lease, loadDurationNs: Number(process.hrtime.bigint() - t) };
}

/** Loads (no prompt) or, with keep_alive 0, unloads a model: Ollama's done_reason "load" / "unload". */
export async function loadOrUnload(deps: ServeDeps, p: Prepared, signal: AbortSignal): Promise<'load' | 'unload'> {
  if (p.keepAlive === 0) {
    await deps.scheduler.unload(p.model.path);
    return 'unload';
  }
  const { lease } = await holdSlot(deps, p, signal);
  lease.release();
  return 'load';
}

/**
 * Ollama's final-object statistics, in nanoseconds, and prompt_truncated when
 * the runner had to drop prompt tokens to fit the context (also logged: a
 * prompt is never cut silently).
 */
export function statsFields(deps: ServeDeps, p: Prepared, loadDurationNs: number, s: RunnerStats) {
  if (s.truncated > 0) {
    deps.log(`${p.model.name}: the prompt was ${s.promptEvalCount + s.truncated} tokens, more than num_ctx ${p.options.numCtx} allows; ${s.truncated} tokens were dropped (num_keep kept, then the end)`);
  }
  if (s.shifts) deps.log(`${p.model.name}: the context (num_ctx ${p.options.numCtx}) filled while generating; shifted ${s.shifts} time${s.shifts > 1 ? 's' : ''}`);
  return {
    total_duration: Number(process.hrtime.bigint() - p.t0),
    load_duration: loadDurationNs,
    prompt_eval_count: s.promptEvalCount,
    prompt_eval_duration: s.promptEvalDurationNs,
    eval_count: s.evalCount,
    eval_duration: s.evalDurationNs,
    ...(s.truncated > 0 ? { prompt_truncated: s.truncated } : {}),
    ...(s.promptCachedCount ? { prompt_cached: s.promptCachedCount } : {}),
  };
}

export function doneReason(s: RunnerStats): string {
  return s.doneReason === 'cancel' ? 'stop' : s.doneReason;
}

/**
 * The request's `format`: "json", a JSON schema object, or nothing ("" counts
 * as nothing, as in Ollama). Compiled here once so an unsupported schema is a
 * 400 before anything loads; the runner compiles it again for its mask.
 */
export function formatOf(v: unknown): unknown {
  if (v === undefined || v === null || v === '') return undefined;
  if (v !== 'json' && (typeof v !== 'object' || Array.isArray(v))) throw new KilnError('E_BAD_REQUEST', `invalid format ${JSON.stringify(v)}: use "json" or a JSON schema object`);
  formatGrammar(v);
  return v;
}

/**
 * How many top tokens to list per generated token when the request asked for
 * log-probabilities (`logprobs: true`, or a `top_logprobs` above 0 without
 * `logprobs`, which implies it); undefined when it did not.
 */
export function logprobsOf(req: LogprobsOption): number | undefined {
  if (req.logprobs === true || (req.logprobs === undefined && (req.top_logprobs ?? 0) > 0)) return req.top_logprobs ?? 0;
  return undefined;
}

/**
 * Holds the log-probabilities of streamed tokens until a piece of the answer
 * goes out (text held by a parser still has its tokens counted), so each
 * token's entry comes exactly once, with the first piece sent after it.
 */
export class LogprobQueue {
  private held: TokenLogprob[] = [];

  constructor(readonly on: boolean) {}

  add(lps: TokenLogprob[] | undefined): void {
    if (this.on && lps) this.held.push(...lps);
  }

  /** `{logprobs}` for the piece going out now (all held entries), or nothing. */
  take(): { logprobs?: TokenLogprob[] } {
    if (!this.on) return {};
    const out = this.held;
    this.held = [];
    return { logprobs: out };
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}
