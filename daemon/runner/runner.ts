import { fork, type ChildProcess } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { KilnError, type ErrorCode, ERROR_STATUS } from '../../common/errors.js';
import { packageRoot } from '../../common/paths.js';
import { metrics } from '../metrics.js';
import type { TokenLogprob } from '../api/types.js';
import type { FromRunner, GenerateMsg, LoadMsg, ParkedEntry, RunnerStats, ToRunner } from './protocol.js';

export interface RunnerSpec extends Omit<LoadMsg, 't'> {
  /** Shown in errors: the model name the runner serves. */
  name: string;
}

/** A generation as the daemon asks a runner for it: the protocol message without its routing. */
export type GenerateRequest = Pick<GenerateMsg, 'prompt' | 'context' | 'options' | 'format' | 'toolCalls' | 'logprobs' | 'shift'>;

export interface Chunk {
  text: string;
  tokens: number[];
  /** When the request asked for logprobs: one per token, in the API's shape. */
  logprobs?: TokenLogprob[];
}

/** What a runner that is loaded can do; the scheduler's tests substitute a fake. */
export interface RunnerHandle {
  readonly pid: number | undefined;
  readonly nCtx: number;
  /** Device memory the model holds on the GPU (0: on the CPU only). */
  readonly vramBytes?: number;
  /** Every layer runs on the GPU. */
  readonly gpuAll?: boolean;
  /** The KV cache's key and value types as the runner holds them (a generative model). */
  readonly kvTypes?: { k: string; v: string };
  readonly loadDurationNs: number;
  /** Requests registered and not yet closed (KILN_DEBUG's internals report the sum). */
  readonly inFlight?: number;
  generate(slot: number, req: GenerateRequest, signal: AbortSignal): AsyncGenerator<Chunk, RunnerStats>;
  embed(slot: number, inputs: string[], truncate: boolean, signal: AbortSignal): Promise<{ embeddings: Float32Array[]; promptEvalCount: number }>;
  rank(slot: number, query: string, documents: string[], truncate: boolean, signal: AbortSignal): Promise<{ scores: number[]; promptEvalCount: number }>;
  /** Resolves when the process has ended (either way). */
  stop(): Promise<void>;
  /** The runner's prompt cache entries, asked for before stopping it (none when it does not answer in time). */
  park?(timeoutMs?: number): Promise<ParkedEntry[]>;
  /** Called once when the process ends without stop() having been asked. */
  onCrash(fn: (why: string) => void): void;
}

type Pending = {
  push(m: FromRunner): void;
  fail(e: Error): void;
};

function toError(code: string, message: string): KilnError {
  return new KilnError((code in ERROR_STATUS ? code : 'E_RUNNER') as ErrorCode, message);
}

/** How many nice levels a runner runs below the daemon (see Runner.start). */
const RUNNER_NICE = 5;

/**
 * The daemon's side of one runner process: forks dist/daemon/runner/main.js,
 * loads the model, and multiplexes requests over the IPC channel by id. If
 * the process dies, every request in flight fails with an E_RUNNER error that
 * says so, and onCrash tells the scheduler to forget this runner.
 */
export class Runner implements RunnerHandle {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  private stopping = false;
  private crashHandlers: ((why: string) => void)[] = [];
  private stderrTail = '';
  nCtx = 0;
  vramBytes = 0;
  gpuAll = false;
  kvTypes: { k: string; v: string } | undefined;
  loadDurationNs = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly spec: RunnerSpec,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Requests registered and not yet finished (each holds an entry until it ends). */
  get inFlight(): number {
    return this.pending.size;
  }

  static entry(): string {
    return join(packageRoot(), 'dist', 'daemon', 'runner', 'main.js');
  }

  static start(spec: RunnerSpec, log: (m: string) => void = () => {}): Promise<Runner> {
    const child = fork(Runner.entry(), [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Not the daemon's flags (a test runner's loaders, an inspector port).
      execArgv: [],
    });
    const r = new Runner(child, spec);
    // The forward pass keeps every core busy while it generates; a runner a
    // few nice levels below the daemon lets the daemon's control plane
    // (/api/tags, /api/ps, the streams it relays) take a core at once instead
    // of waiting out the runner's time slice. It costs the runner nothing on
    // an otherwise idle machine.
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, Math.min(19, getPriority() + RUNNER_NICE));
      } catch {
        // lowering a child's priority is always allowed on Linux and macOS; if a platform refuses, run as is
      }
    }
    child.stderr!.on('data', (d: Buffer) => {
      r.stderrTail = (r.stderrTail + d.toString()).slice(-4096);
    });
    return new Promise((resolve, reject) => {
      let loaded = false;
      child.on('message', (raw) => {
        const m = raw as FromRunner;
        if (m.t === 'loaded') {
          loaded = true;
          r.nCtx = m.nCtx;
          r.loadDurationNs = m.loadDurationNs;
          r.vramBytes = m.vramBytes ?? 0;
          r.gpuAll = m.gpuAll ?? false;
          r.kvTypes = m.kvTypes;
          const mib = (b: number | undefined) => Math.round((b ?? 0) / 2 ** 20);
          // the plan's estimate next to what the device really allocated
          const gpu = m.gpuLayers ? `, ${m.gpuLayers} layers on the GPU (estimated ${mib(m.gpuPlanBytes)} MiB, allocated ${mib(m.vramBytes)} MiB)` : '';
          const kv = m.kvTypes ? `, ${m.kvTypes.k === m.kvTypes.v ? m.kvTypes.k : `${m.kvTypes.k}/${m.kvTypes.v}`} KV cache` : '';
          log(`runner ${child.pid} loaded ${spec.name} (context ${m.nCtx}, ${spec.slots} slot${spec.slots > 1 ? 's' : ''}${m.threads ? `, ${m.threads} thread${m.threads > 1 ? 's' : ''}` : ''}${kv}${gpu}; ${m.gpu ?? 'gpu: none'})`);
          resolve(r);
        } else if (m.t === 'load-failed') {
          reject(toError(m.code, `loading ${spec.name}: ${m.message}`));
        } else r.dispatch(m);
      });
      child.on('error', (e) => {
        if (!loaded) reject(new KilnError('E_RUNNER', `cannot start the runner for ${spec.name}: ${e.message}`));
      });
      child.on('exit', (code, signal) => {
        r.exited = true;
        const why = r.describeExit(code, signal);
        if (!loaded) reject(new KilnError('E_RUNNER', `the runner for ${spec.name} ${why} while loading${r.stderrTail ? `: ${r.stderrTail.trim().split('\n').at(-1)}` : ''}`));
        const err = new KilnError('E_RUNNER', `the model runner for ${spec.name} ${why}; it is restarted on the next request`);
        for (const p of r.pending.values()) p.fail(err);
        r.pending.clear();
        if (loaded && !r.stopping) {
          log(`runner ${child.pid} for ${spec.name} ${why}`);
          for (const fn of r.crashHandlers) fn(why);
        }
      });
      r.send({
        t: 'load',
        path: spec.path,
        numCtx: spec.numCtx,
        slots: spec.slots,
        kvF16: spec.kvF16,
        ...(spec.kvTypes === undefined ? {} : { kvTypes: spec.kvTypes }),
        threads: spec.threads,
        promptCacheBytes: spec.promptCacheBytes,
        promptCache: spec.promptCache,
        ...(spec.numGpu === undefined ? {} : { numGpu: spec.numGpu }),
      });
    });
  }

  private describeExit(code: number | null, signal: NodeJS.Signals | null): string {
    return signal ? `was killed by ${signal}` : `exited with status ${code}`;
  }

  onCrash(fn: (why: string) => void): void {
    this.crashHandlers.push(fn);
  }

  private send(m: ToRunner): void {
    if (this.exited || !this.child.connected) throw new KilnError('E_RUNNER', `the model runner for ${this.spec.name} is not running`);
    this.child.send(m);
  }

  private dispatch(m: FromRunner): void {
    if (!('id' in m)) return;
    this.pending.get(m.id)?.push(m);
  }

  /**
   * Registers a request and sends it; sends `cancel` and calls `onCancel` on
   * abort (at once for a signal that is already aborted). The returned close
   * removes both the entry and the listener; if the send throws, nothing is
   * left behind.
   */
  private open(signal: AbortSignal, handler: Pending, build: (id: number) => ToRunner, onCancel?: () => void): (abandoned?: boolean) => void {
    const id = this.nextId++;
    this.pending.set(id, handler);
    const cancel = () => {
      if (!this.exited && this.child.connected) this.child.send({ t: 'cancel', id } satisfies ToRunner);
    };
    const onAbort = () => {
      cancel();
      onCancel?.();
    };
    // `abandoned`: the caller stops listening before the request ended, so the runner is told to stop too.
    const close = (abandoned = false) => {
      if (abandoned && !signal.aborted && this.pending.has(id)) cancel();
      signal.removeEventListener('abort', onAbort);
      this.pending.delete(id);
    };
    try {
      this.send(build(id));
    } catch (e) {
      close();
      throw e;
    }
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return close;
  }

  async *generate(slot: number, req: GenerateRequest, signal: AbortSignal): AsyncGenerator<Chunk, RunnerStats> {
    // Messages arrive on the event loop; the consumer pulls at its own pace.
    const queue: FromRunner[] = [];
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const close = this.open(
      signal,
      {
        push: (m) => {
          queue.push(m);
          wake?.();
        },
        fail: (e) => {
          failure = e;
          wake?.();
        },
      },
      (id) => ({ t: 'generate', id, slot, ...req }),
    );
    let ended = false;
    const measure = metrics.generation(this.spec.name);
    try {
      for (;;) {
        while (queue.length === 0 && !failure) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const m = queue.shift();
        if (!m) throw failure!;
        if (m.t === 'chunk') {
          measure.chunk(m.tokens.length);
          yield { text: m.text, tokens: m.tokens, ...(m.logprobs ? { logprobs: m.logprobs } : {}) };
        } else if (m.t === 'done') {
          ended = true;
          measure.done(m.stats.promptEvalCount, m.stats.evalCount);
          return m.stats;
        } else if (m.t === 'error') {
          ended = true;
          throw toError(m.code, m.message);
        }
      }
    } finally {
      close(!ended && !failure);
    }
  }

  embed(slot: number, inputs: string[], truncate: boolean, signal: AbortSignal): Promise<{ embeddings: Float32Array[]; promptEvalCount: number }> {
    const cancelled = () => new KilnError('E_CANCELLED', 'request cancelled');
    // Nothing is sent for a request whose client has already gone.
    if (signal.aborted) return Promise.reject(cancelled());
    return new Promise((resolve, reject) => {
      const close = this.open(
        signal,
        {
          push: (m) => {
            close();
            if (m.t === 'embedded') metrics.promptTokens.inc({ model: this.spec.name }, m.promptEvalCount);
            if (m.t === 'embedded') resolve({ embeddings: m.embeddings, promptEvalCount: m.promptEvalCount });
            else if (m.t === 'error') reject(toError(m.code, m.message));
          },
          fail: (e) => {
            close();
            reject(e);
          },
        },
        (id) => ({ t: 'embed', id, slot, inputs, truncate }),
        () => {
          close();
          reject(cancelled());
        },
      );
    });
  }

  /** A reranker's raw relevance score of each document against the query, in the documents' order. */
  rank(slot: number, query: string, documents: string[], truncate: boolean, signal: AbortSignal): Promise<{ scores: number[]; promptEvalCount: number }> {
    const cancelled = () => new KilnError('E_CANCELLED', 'request cancelled');
    if (signal.aborted) return Promise.reject(cancelled());
    return new Promise((resolve, reject) => {
      const close = this.open(
        signal,
        {
          push: (m) => {
            close();
            if (m.t === 'ranked') {
              metrics.promptTokens.inc({ model: this.spec.name }, m.promptEvalCount);
              resolve({ scores: m.scores, promptEvalCount: m.promptEvalCount });
            } else if (m.t === 'error') reject(toError(m.code, m.message));
          },
          fail: (e) => {
            close();
            reject(e);
          },
        },
        (id) => ({ t: 'rank', id, slot, query, documents, truncate }),
        () => {
          close();
          reject(cancelled());
        },
      );
    });
  }

  /** Asks the process how it is: which slots are working, its resident memory. */
  health(timeoutMs = 5000): Promise<{ busySlots: number[]; rss: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        close();
        reject(new KilnError('E_RUNNER', `the model runner for ${this.spec.name} did not answer a health check in ${timeoutMs} ms`));
      }, timeoutMs);
      const close = this.open(
        new AbortController().signal,
        {
          push: (m) => {
            clearTimeout(timer);
            close();
            if (m.t === 'health') resolve({ busySlots: m.busySlots, rss: m.rss });
          },
          fail: (e) => {
            clearTimeout(timer);
            close();
            reject(e);
          },
        },
        (id) => ({ t: 'health', id }),
      );
    });
  }

  park(timeoutMs = 3000): Promise<ParkedEntry[]> {
    if (this.exited || !this.child.connected) return Promise.resolve([]);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        close();
        resolve([]);
      }, timeoutMs);
      const close = this.open(
        new AbortController().signal,
        {
          push: (m) => {
            clearTimeout(timer);
            close();
            resolve(m.t === 'parked' ? m.entries : []);
          },
          fail: () => {
            clearTimeout(timer);
            close();
            resolve([]);
          },
        },
        (id) => ({ t: 'park', id }),
      );
    });
  }

  stop(): Promise<void> {
    this.stopping = true;
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      // Closing the channel ends the runner (it exits on 'disconnect'); SIGTERM for one that is stuck in native code.
      this.child.kill('SIGTERM');
    });
  }
}
