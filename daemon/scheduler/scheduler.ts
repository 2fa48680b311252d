import { KilnError } from '../../common/errors.js';
import { vulkanInfo } from '../../kernels/vulkan.js';
import type { RunningModel, ModelDetails } from '../api/types.js';
import type { ParkedEntry } from '../runner/protocol.js';
import type { RunnerHandle, RunnerSpec } from '../runner/runner.js';
import { FOREVER, type KeepAlive } from './keep-alive.js';
import { KV_F16, isQuantized, kvTypesName, type KvTypes } from '../../common/kv-cache.js';
import { estimateMemory, insufficientMemory, type MemoryEstimate, type ModelShape } from './memory.js';

/** A model as the scheduler loads it. */
export interface ModelSpec {
  /** The GGUF blob path: one runner per (path, context length). */
  path: string;
  /** Display name (`kjv:latest`), for /api/ps and messages. */
  name: string;
  /** Manifest digest hex, for /api/ps. */
  digest: string;
  details: ModelDetails;
  shape: ModelShape;
  fileSize: number;
  numCtx: number;
  /** num_gpu: layers on the GPU; absent: all when a GPU is chosen (one runner per value). */
  numGpu?: number;
  /** num_thread: native threads of the runner; absent: the scheduler's default (one runner per value). */
  numThread?: number;
  /** KV cache types (one runner per pair); absent: f16. */
  kvTypes?: KvTypes;
}

export interface SchedulerOptions {
  /** Slots per model (KILN_NUM_PARALLEL); 0: auto, as many as the memory plan allows, up to AUTO_PARALLEL. */
  numParallel: number;
  /** Bytes of prompt cache per runner, and for the caches of unloaded models kept for their next load (0: none). */
  promptCacheBytes?: number;
  maxLoadedModels: number;
  maxQueue: number;
  /** Native threads per runner (0: kernels' default). */
  threads?: number;
  startRunner(spec: RunnerSpec): Promise<RunnerHandle>;
  availableMemory(): number;
  /** Bytes all loaded models may take together, by their estimates (0 or absent: no cap). */
  maxMemory?: number;
  /** The GPU's part of a refused load's plan, for its message (absent or undefined: none said). */
  deviceFigures?(spec: ModelSpec, slots: number): Promise<string | undefined>;
  log?(m: string): void;
  now?(): number;
}

/** A slot of a loaded model, held by one request until release(). */
export interface Lease {
  readonly runner: RunnerHandle;
  readonly slot: number;
  readonly numCtx: number;
  release(): void;
}

interface Waiter {
  resolve(l: Lease): void;
  reject(e: unknown): void;
  signal: AbortSignal;
  onAbort: () => void;
}

interface Entry {
  id: string;
  spec: ModelSpec;
  slots: number;
  estimate: MemoryEstimate;
  runner?: RunnerHandle;
  free: number[];
  active: number;
  waiters: Waiter[];
  keepAlive: KeepAlive;
  /** ms since epoch; Infinity for never; meaningful while idle. */
  expiresAt: number;
  timer?: NodeJS.Timeout;
  /** Takes no new requests; unloaded once idle (another context length was asked for, or stop). */
  retired: boolean;
  gone: boolean;
}

let gpu: boolean | undefined;
/** Whether the runners will find a Vulkan device to offload to (probed once; the probe never throws). */
function gpuChosen(): boolean {
  gpu ??= vulkanInfo().selected >= 0;
  return gpu;
}

/** The most slots KILN_NUM_PARALLEL=auto gives a model (Ollama's default cap as well). */
export const AUTO_PARALLEL = 4;

function aborted(signal: AbortSignal): KilnError {
  return new KilnError('E_CANCELLED', `request cancelled${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`);
}

/**
 * Decides which models are loaded: one runner per model and context length,
 * started on demand, with KILN_NUM_PARALLEL slots (one KV cache each) that
 * serve one request at a time; requests beyond the slots wait in a per-model
 * queue of at most KILN_MAX_QUEUE (E_QUEUE_FULL past it). A model stays
 * loaded for the keep_alive of its last request once idle; a new model that
 * would exceed KILN_MAX_LOADED_MODELS or free memory first unloads the idle
 * model that expires first, then waits for busy ones, and is refused with
 * both figures when nothing else is loaded. A model in use is never unloaded.
 * Loads run one at a time so two of them never count the same free memory.
 */
export class Scheduler {
  /**
   * Every runner the scheduler owns, including retired ones that still serve
   * requests: a retired entry and its replacement share an id, so entries are
   * kept by identity and looked up by id only among the live ones.
   */
  private readonly entries = new Set<Entry>();
  private loadChain: Promise<unknown> = Promise.resolve();
  private idleListeners: (() => void)[] = [];
  private readonly now: () => number;
  private closed = false;
  /** Prompt caches of stopped runners, per model id, oldest first (see parkEntries). */
  private readonly parked = new Map<string, { entries: ParkedEntry[]; bytes: number }>();

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Waits for a slot of `spec` (loading it if needed) and holds it until release(). */
  acquire(spec: ModelSpec, keepAlive: KeepAlive, signal: AbortSignal): Promise<Lease> {
    if (signal.aborted) return Promise.reject(aborted(signal));
    if (this.closed) return Promise.reject(new KilnError('E_RUNNER', 'kiln is shutting down'));
    const kv = spec.kvTypes ?? KV_F16;
    const id = `${spec.path}#${spec.numCtx}${spec.numGpu === undefined ? '' : `#gpu${spec.numGpu}`}${kv.k === 'f16' && kv.v === 'f16' ? '' : `#kv${kvTypesName(kv)}`}${spec.numThread === undefined ? '' : `#t${spec.numThread}`}`;
    let e = this.live(id);
    if (!e) {
      for (const other of [...this.entries]) if (other.spec.path === spec.path && !other.retired) void this.retire(other);
      e = this.create(id, spec);
    }
    e.keepAlive = keepAlive;
    this.clearTimer(e);
    if (e.runner && e.free.length > 0 && e.waiters.length === 0) return Promise.resolve(this.take(e));
    const capacity = e.runner ? e.free.length : e.slots;
    if (e.waiters.length >= capacity + this.opts.maxQueue) {
      return Promise.reject(new KilnError('E_QUEUE_FULL', `server busy: ${this.opts.maxQueue} request(s) already wait for ${spec.name}; try again later (KILN_MAX_QUEUE)`));
    }
    const entry = e;
    return new Promise<Lease>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = entry.waiters.indexOf(w);
          if (i >= 0) entry.waiters.splice(i, 1);
          reject(aborted(signal));
          this.maybeIdle(entry);
        },
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      entry.waiters.push(w);
    });
  }

  /** Models loaded now, for /api/ps (most recently expiring first, as Ollama lists them). */
  /** Requests the runners hold open, all together (what a leak of them would show). */
  runnerRequests(): number {
    let n = 0;
    for (const e of this.entries) n += e.runner?.inFlight ?? 0;
    return n;
  }

  /** Requests waiting for a slot (or a load), all models together. */
  queueDepth(): number {
    let n = 0;
    for (const e of this.entries) n += e.waiters.length;
    return n;
  }

  list(): RunningModel[] {
    const now = this.now();
    return [...this.entries]
      .filter((e) => e.runner && !e.gone)
      .map((e) => {
        const busy = e.active > 0 || e.waiters.length > 0;
        const until = busy ? now + e.keepAlive : e.expiresAt;
        return {
          name: e.spec.name,
          model: e.spec.name,
          size: e.estimate.total,
          digest: e.spec.digest,
          details: e.spec.details,
          expires_at: (Number.isFinite(until) ? new Date(until) : FOREVER).toISOString(),
          // every layer on the GPU is Ollama's "100% GPU"; a partial offload, the device bytes the runner holds
          size_vram: e.runner!.gpuAll ? e.estimate.total : Math.min(e.runner!.vramBytes ?? 0, e.estimate.total),
          context_length: e.spec.numCtx,
          slots: { total: e.slots, in_use: e.active },
          // the types the runner holds (it keeps f16 where a quantized cache cannot be), else those asked for
          kv_cache: {
            type_k: e.runner!.kvTypes?.k ?? (e.spec.kvTypes ?? KV_F16).k,
            type_v: e.runner!.kvTypes?.v ?? (e.spec.kvTypes ?? KV_F16).v,
            bytes: e.estimate.kvCache,
          },
        };
      })
      .sort((a, b) => b.expires_at.localeCompare(a.expires_at));
  }

  /** Whether a runner for this blob is loaded (or loading). */
  isLoaded(path: string): boolean {
    return [...this.entries].some((e) => e.spec.path === path && !e.retired);
  }

  /**
   * Unloads every runner of a model (kiln stop, keep_alive 0 without a
   * prompt): now if idle, else as soon as its requests are done. Resolves
   * when the idle ones have stopped; false if none was loaded.
   */
  async unload(path: string): Promise<boolean> {
    const mine = [...this.entries].filter((e) => e.spec.path === path);
    await Promise.all(mine.map((e) => this.retire(e)));
    return mine.length > 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries].map((e) => this.stopEntry(e)));
  }

  /** The entry that takes new requests for `id`, if any (not a retired one). */
  private live(id: string): Entry | undefined {
    for (const e of this.entries) if (e.id === id && !e.retired) return e;
    return undefined;
  }

  /** The slots a load of `spec` would get now, and the memory free for it (for the memory plan, /api/fit). */
  plan(spec: ModelSpec): { slots: number; free: number } {
    return { slots: this.slotsFor(spec), free: this.freeMemory([...this.entries].filter((o) => !o.gone && o.runner)) };
  }

  /** KILN_NUM_PARALLEL, or for auto the most slots (up to AUTO_PARALLEL) whose estimate fits the memory free now. */
  private slotsFor(spec: ModelSpec): number {
    if (this.opts.numParallel > 0) return this.opts.numParallel;
    // auto gives a model it will offload one slot: every slot's cache of the offloaded layers takes device memory,
    // and the plan of how many fit is the runner's (KILN_NUM_PARALLEL=N offloads N slots' caches)
    // (a quantized KV cache stays on the CPU: no offload to keep one slot for)
    if (spec.numGpu !== 0 && gpuChosen() && !isQuantized(spec.kvTypes ?? KV_F16)) return 1;
    const free = this.freeMemory([...this.entries].filter((o) => !o.gone && o.runner));
    for (let n = AUTO_PARALLEL; n > 1; n--) if (estimateMemory(spec.shape, spec.fileSize, spec.numCtx, n, spec.kvTypes).total <= free) return n;
    return 1;
  }

  private create(id: string, spec: ModelSpec): Entry {
    const slots = this.slotsFor(spec);
    const e: Entry = {
      id,
      spec,
      slots,
      estimate: estimateMemory(spec.shape, spec.fileSize, spec.numCtx, slots, spec.kvTypes),
      free: [],
      active: 0,
      waiters: [],
      keepAlive: 0,
      expiresAt: 0,
      retired: false,
      gone: false,
    };
    this.entries.add(e);
    const run = this.loadChain.then(() => this.load(e));
    this.loadChain = run.catch(() => {});
    run.catch((err) => {
      this.forget(e);
      for (const w of e.waiters.splice(0)) {
        w.signal.removeEventListener('abort', w.onAbort);
        w.reject(err);
      }
    });
    return e;
  }

  /** Memory a new model may take: the system's available memory, within KILN_MAX_MEMORY less the loaded models' estimates. */
  private freeMemory(loaded: Entry[]): number {
    const sys = this.opts.availableMemory();
    if (!this.opts.maxMemory) return sys;
    const used = loaded.reduce((s, o) => s + o.estimate.total, 0);
    return Math.min(sys, Math.max(0, this.opts.maxMemory - used));
  }

  private async load(e: Entry): Promise<void> {
    if (e.gone) return;
    const log = this.opts.log ?? (() => {});
    for (;;) {
      if (this.closed) throw new KilnError('E_RUNNER', 'kiln is shutting down');
      // Nobody waits any more (all disconnected while queued for the load): skip it.
      if (e.waiters.length === 0) {
        this.forget(e);
        return;
      }
      // Loads run one at a time, so only loaded runners take memory or a place.
      const others = [...this.entries].filter((o) => o !== e && !o.gone && o.runner);
      const free = this.freeMemory(others);
      const countOk = others.length < this.opts.maxLoadedModels;
      const memOk = e.estimate.total <= free;
      if (countOk && memOk) break;
      const idle = others.filter((o) => o.runner && o.active === 0 && o.waiters.length === 0).sort((a, b) => Number(b.retired) - Number(a.retired) || a.expiresAt - b.expiresAt);
      if (idle.length > 0) {
        log(`unloading ${idle[0].spec.name} to make room for ${e.spec.name} (${countOk ? 'memory' : 'KILN_MAX_LOADED_MODELS'})`);
        await this.stopEntry(idle[0]);
        continue;
      }
      if (others.length === 0) {
        const dev = await this.opts.deviceFigures?.(e.spec, e.slots).catch(() => undefined);
        throw insufficientMemory(e.spec.name, e.estimate, free, dev);
      }
      // Every other model is busy: wait until one goes idle, then look again.
      await new Promise<void>((r) => this.idleListeners.push(r));
    }
    const runner = await this.opts.startRunner({
      name: e.spec.name,
      path: e.spec.path,
      numCtx: e.spec.numCtx,
      slots: e.slots,
      kvF16: true,
      ...(e.spec.kvTypes === undefined ? {} : { kvTypes: e.spec.kvTypes }),
      threads: e.spec.numThread ?? this.opts.threads ?? 0,
      promptCacheBytes: this.opts.promptCacheBytes ?? 0,
      // what the last runner of this model and context kept: a reloaded model resumes its conversations' prefixes
      promptCache: this.unpark(e.id),
      ...(e.spec.numGpu === undefined ? {} : { numGpu: e.spec.numGpu }),
    });
    if (e.gone) {
      await runner.stop();
      return;
    }
    e.runner = runner;
    e.free = Array.from({ length: e.slots }, (_, i) => i);
    runner.onCrash(() => this.crashed(e));
    this.dispatch(e);
    this.maybeIdle(e);
  }

  private take(e: Entry): Lease {
    const slot = e.free.shift()!;
    e.active++;
    const runner = e.runner!;
    let released = false;
    return {
      runner,
      slot,
      numCtx: runner.nCtx,
      release: () => {
        if (released) return;
        released = true;
        e.active--;
        if (e.gone) return;
        e.free.push(slot);
        this.dispatch(e);
        this.maybeIdle(e);
      },
    };
  }

  private dispatch(e: Entry): void {
    while (e.runner && e.free.length > 0 && e.waiters.length > 0) {
      const w = e.waiters.shift()!;
      w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(this.take(e));
    }
  }

  /** After a request ends: start the keep-alive clock, or unload now. */
  private maybeIdle(e: Entry): void {
    if (!e.runner || e.gone || e.active > 0 || e.waiters.length > 0) return;
    for (const fn of this.idleListeners.splice(0)) fn();
    this.clearTimer(e);
    if (e.retired || e.keepAlive <= 0) {
      void this.stopEntry(e);
      return;
    }
    if (!Number.isFinite(e.keepAlive)) {
      e.expiresAt = Infinity;
      return;
    }
    e.expiresAt = this.now() + e.keepAlive;
    // setTimeout holds at most 2^31-1 ms; a longer keep_alive re-arms.
    const arm = () => {
      const left = e.expiresAt - this.now();
      if (left <= 0) void this.stopEntry(e);
      else e.timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1)).unref();
    };
    arm();
  }

  private retire(e: Entry): Promise<void> {
    e.retired = true;
    if (e.active === 0 && e.waiters.length === 0) return this.stopEntry(e);
    return Promise.resolve();
  }

  private clearTimer(e: Entry): void {
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
  }

  private forget(e: Entry): void {
    e.gone = true;
    this.clearTimer(e);
    this.entries.delete(e);
    for (const fn of this.idleListeners.splice(0)) fn();
  }

  private async stopEntry(e: Entry): Promise<void> {
    const runner = e.runner;
    this.forget(e);
    if (runner) {
      // (not when kiln itself is stopping: there is no next load to hand them to)
      if (runner.park && !this.closed && (this.opts.promptCacheBytes ?? 0) > 0) this.parkEntries(e.id, await runner.park());
      await runner.stop();
      (this.opts.log ?? (() => {}))(`unloaded ${e.spec.name}`);
    }
    for (const fn of this.idleListeners.splice(0)) fn();
  }

  /**
   * Keeps a stopped runner's prompt cache entries for its model's next load,
   * within the prompt cache's byte budget: the models parked longest ago go
   * first.
   */
  private parkEntries(id: string, entries: ParkedEntry[]): void {
    this.parked.delete(id);
    const budget = this.opts.promptCacheBytes ?? 0;
    let bytes = entries.reduce((s, x) => s + x.bytes.byteLength, 0);
    // a runner's own cache is within the budget; trim from its least recently used end if not
    while (entries.length && bytes > budget) bytes -= entries.shift()!.bytes.byteLength;
    if (!entries.length) return;
    this.parked.set(id, { entries, bytes });
    let total = 0;
    for (const p of this.parked.values()) total += p.bytes;
    for (const [k, p] of this.parked) {
      if (total <= budget) break;
      this.parked.delete(k);
      total -= p.bytes;
    }
  }

  private unpark(id: string): ParkedEntry[] | undefined {
    const p = this.parked.get(id);
    this.parked.delete(id);
    return p?.entries;
  }

  /** Prompt cache entries parked per model id (bytes kept). */
  parkedBytes(): number {
    let n = 0;
    for (const p of this.parked.values()) n += p.bytes;
    return n;
  }

  /** The runner died: its requests have failed; queued ones go to a fresh runner. */
  private crashed(e: Entry): void {
    this.forget(e);
    for (const w of e.waiters.splice(0)) {
      w.signal.removeEventListener('abort', w.onAbort);
      this.acquire(e.spec, e.keepAlive, w.signal).then(w.resolve, w.reject);
    }
  }
}
