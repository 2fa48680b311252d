/**
 * Runs a target's inputs and classifies each:
 *
 *   ok        the parser accepted it
 *   rejected  it threw a KilnError whose status is a 4xx
 *   crash     anything else thrown (TypeError, RangeError, a 5xx KilnError,
 *             an accepted input breaking an invariant), or the worker dying
 *   hang      one input took more than HANG_MS
 *   alloc     one allocation above the input's budget (see alloc-guard.ts), or
 *             the heap grown past it across one input, or the worker's memory limit hit
 *
 * Input `i` is a pure function of (seed, target, i), so a finding is
 * reproduced from its index alone, and a worker that had to be killed is
 * restarted at i + 1.
 *
 * Worker mode (the bench) runs the target in a worker thread of the compiled
 * sources in dist/, watched from the main thread through shared memory: an
 * input still running HANG_KILL_MS after it started (a true infinite loop
 * included) gets the worker terminated and is reported. Inline mode (the test
 * sample) runs the TS sources in the calling thread and can only time inputs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { isKilnError } from '../../common/errors.js';
import { installAllocGuard, OverAllocationError, overAllocation, setAllocBudget } from './alloc-guard.js';
import { inputSeed, rng } from './rng.js';
import { findTarget, REPO, type TargetInstance } from './targets.js';

export const HANG_MS = 2000;
const HANG_KILL_MS = 3000;
/**
 * Allocation budget per input: a parser may build a few times its input in JS
 * objects, plus fixed buffers and limits (16 M-character template output).
 * Single allocations are held to the target's tighter maxAllocation where it has one.
 */
export const ALLOC_PER_BYTE = 64;
export const ALLOC_CONSTANT = 64 << 20;
export const allocBudget = (inputBytes: number) => ALLOC_PER_BYTE * inputBytes + ALLOC_CONSTANT;

export type Kind = 'crash' | 'hang' | 'alloc';

export interface Finding {
  target: string;
  index: number;
  kind: Kind;
  detail: string;
  ms?: number;
  /** Where the input was saved, when a findings folder was given. */
  path?: string;
}

export interface Stats {
  target: string;
  runs: number;
  ok: number;
  rejected: number;
  crashes: number;
  hangs: number;
  allocs: number;
  maxMs: number;
  /** The input that took maxMs. */
  maxAt: number;
  elapsedMs: number;
  findings: Finding[];
}

export interface RunOptions {
  seed: number;
  runs: number;
  /** First input index (default 0). */
  from?: number;
  mode: 'worker' | 'inline';
  /** Saves each failing input here as <target>-<seed>-<index>.bin. */
  findingsDir?: string;
  onProgress?: (done: number) => void;
}

/** The input at `index`, and which seed it grew from. */
export function makeInput(t: TargetInstance, target: string, seed: number, index: number): { bytes: Uint8Array; seed: number } {
  const r = rng(inputSeed(seed, target, index));
  const s = r.int(t.seeds.length);
  return { bytes: t.mutate(s, r), seed: s };
}

type Outcome = { kind: 'ok' | 'rejected' } | { kind: Kind; detail: string };

function describe(e: unknown): string {
  const err = e as Error;
  const stack = err?.stack?.split('\n').slice(0, 4).join(' | ');
  return (stack ?? String(e)).slice(0, 600);
}

/** One input through the target, with the allocation budget set and the heap watched. */
export async function runOne(t: TargetInstance, bytes: Uint8Array, seed: number): Promise<Outcome & { ms: number }> {
  const budget = allocBudget(bytes.length);
  const before = process.memoryUsage();
  setAllocBudget(Math.min(budget, t.maxAllocation?.(bytes.length) ?? budget));
  const started = performance.now();
  let out: Outcome;
  try {
    await t.run(bytes, seed);
    out = { kind: 'ok' };
  } catch (e) {
    if (isKilnError(e) && e.httpStatus < 500) out = { kind: 'rejected' };
    else if (e instanceof OverAllocationError) out = { kind: 'alloc', detail: e.message };
    else out = { kind: 'crash', detail: describe(e) };
  }
  const ms = performance.now() - started;
  const over = overAllocation();
  setAllocBudget(Infinity);
  if (over && out.kind !== 'alloc') out = { kind: 'alloc', detail: `${over} (caught by the parser)` };
  const after = process.memoryUsage();
  const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
  if (out.kind !== 'alloc' && grown > budget) out = { kind: 'alloc', detail: `heap and buffers grew by ${grown} bytes over one ${bytes.length}-byte input (budget ${budget})` };
  if (ms > HANG_MS && out.kind !== 'crash' && out.kind !== 'alloc') out = { kind: 'hang', detail: `took ${ms.toFixed(0)} ms` };
  return { ...out, ms };
}

function emptyStats(target: string): Stats {
  return { target, runs: 0, ok: 0, rejected: 0, crashes: 0, hangs: 0, allocs: 0, maxMs: 0, maxAt: -1, elapsedMs: 0, findings: [] };
}

const COUNT: Record<Kind, 'crashes' | 'hangs' | 'allocs'> = { crash: 'crashes', hang: 'hangs', alloc: 'allocs' };

async function saveFinding(f: Finding, bytes: Uint8Array | undefined, opts: RunOptions): Promise<void> {
  if (!opts.findingsDir || !bytes) return;
  mkdirSync(opts.findingsDir, { recursive: true });
  f.path = join(opts.findingsDir, `${f.target}-${opts.seed}-${f.index}.bin`);
  writeFileSync(f.path, bytes);
  writeFileSync(`${f.path}.txt`, `${f.kind}: ${f.detail}\n`);
}

/** Inline mode: the calling thread runs the inputs (the TS sources under vitest). */
async function runInline(target: string, opts: RunOptions): Promise<Stats> {
  installAllocGuard();
  const t = await findTarget(target).open();
  const st = emptyStats(target);
  const started = performance.now();
  try {
    const from = opts.from ?? 0;
    for (let i = from; i < from + opts.runs; i++) {
      const { bytes, seed } = makeInput(t, target, opts.seed, i);
      const o = await runOne(t, bytes, seed);
      st.runs++;
      if (o.ms > st.maxMs) [st.maxMs, st.maxAt] = [o.ms, i];
      if (o.kind === 'ok' || o.kind === 'rejected') st[o.kind]++;
      else {
        const bad = o as { kind: Kind; detail: string; ms: number };
        st[COUNT[bad.kind]]++;
        const f: Finding = { target, index: i, kind: bad.kind, detail: bad.detail, ms: o.ms };
        await saveFinding(f, bytes, opts);
        st.findings.push(f);
      }
      if (i % 1000 === 0) opts.onProgress?.(st.runs);
    }
  } finally {
    t.close();
  }
  st.elapsedMs = performance.now() - started;
  return st;
}

// Shared counters between the worker and the watchdog.
export const SLOT = { current: 0, busy: 1, ok: 2, rejected: 3, crashes: 4, hangs: 5, allocs: 6, runs: 7, maxUs: 8, maxAt: 9 } as const;
export const SLOTS = 10;

export interface WorkerData {
  target: string;
  seed: number;
  from: number;
  to: number;
  shared: SharedArrayBuffer;
}

export type WorkerMessage = { type: 'finding'; index: number; kind: Kind; detail: string; ms: number; bytes: Uint8Array } | { type: 'done' };

/** Worker mode: a worker thread of the compiled sources, restarted after each kill. */
async function runInWorkers(target: string, opts: RunOptions): Promise<Stats> {
  const script = join(REPO, 'dist', 'bench', 'fuzz', 'worker.js');
  const shared = new SharedArrayBuffer(SLOTS * 4);
  const s = new Int32Array(shared);
  const st = emptyStats(target);
  const started = performance.now();
  const from = opts.from ?? 0;
  const to = from + opts.runs;
  let regen: TargetInstance | undefined;
  const inputAt = async (i: number) => {
    regen ??= await findTarget(target).open();
    return makeInput(regen, target, opts.seed, i).bytes;
  };

  let next = from;
  while (next < to) {
    const w = new Worker(script, { workerData: { target, seed: opts.seed, from: next, to, shared } satisfies WorkerData, resourceLimits: { maxOldGenerationSizeMb: 1536 } });
    const pending: Promise<void>[] = [];
    const end = await new Promise<{ how: 'done' } | { how: 'killed' | 'died'; index: number; detail: string; kind: Kind }>((resolve) => {
      let watched = -1;
      let since = 0;
      let lastProgress = 0;
      const timer = setInterval(() => {
        const cur = Atomics.load(s, SLOT.current);
        const runs = Atomics.load(s, SLOT.runs);
        if (opts.onProgress && runs - lastProgress >= 1000) opts.onProgress((lastProgress = runs));
        if (!Atomics.load(s, SLOT.busy)) return void (watched = -1);
        if (cur !== watched) {
          watched = cur;
          since = performance.now();
        } else if (performance.now() - since > HANG_KILL_MS) {
          clearInterval(timer);
          void w.terminate();
          resolve({ how: 'killed', index: cur, kind: 'hang', detail: `still running after ${HANG_KILL_MS} ms: worker terminated` });
        }
      }, 50);
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'done') {
          clearInterval(timer);
          resolve({ how: 'done' });
          return;
        }
        const f: Finding = { target, index: m.index, kind: m.kind, detail: m.detail, ms: m.ms };
        st.findings.push(f);
        pending.push(saveFinding(f, m.bytes, opts));
      });
      w.on('error', (e) => {
        clearInterval(timer);
        const oom = (e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
        resolve({ how: 'died', index: Atomics.load(s, SLOT.current), kind: oom ? 'alloc' : 'crash', detail: `worker died: ${describe(e)}` });
      });
      w.on('exit', (code) => {
        clearInterval(timer);
        resolve({ how: 'died', index: Atomics.load(s, SLOT.current), kind: 'crash', detail: `worker exited with code ${code}` });
      });
    });
    await Promise.all(pending);
    if (end.how === 'done') {
      await w.terminate();
      break;
    }
    // The input in progress when the worker was killed or died: counted and saved here.
    await w.terminate();
    Atomics.add(s, SLOT.runs, 1);
    Atomics.add(s, SLOT[COUNT[end.kind]], 1);
    Atomics.store(s, SLOT.busy, 0);
    const f: Finding = { target, index: end.index, kind: end.kind, detail: end.detail };
    await saveFinding(f, await inputAt(end.index), opts);
    st.findings.push(f);
    next = end.index + 1;
  }
  regen?.close();
  st.runs = s[SLOT.runs];
  st.ok = s[SLOT.ok];
  st.rejected = s[SLOT.rejected];
  st.crashes = s[SLOT.crashes];
  st.hangs = s[SLOT.hangs];
  st.allocs = s[SLOT.allocs];
  st.maxMs = s[SLOT.maxUs] / 1000;
  st.maxAt = s[SLOT.maxAt];
  for (const f of st.findings) if (f.kind === 'hang' && (f.ms ?? HANG_KILL_MS) > st.maxMs) [st.maxMs, st.maxAt] = [f.ms ?? HANG_KILL_MS, f.index];
  st.elapsedMs = performance.now() - started;
  return st;
}

export function runTarget(target: string, opts: RunOptions): Promise<Stats> {
  return opts.mode === 'worker' ? runInWorkers(target, opts) : runInline(target, opts);
}
