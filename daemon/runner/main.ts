/**
 * Entry of a runner process (compiled to dist/daemon/runner/main.js and
 * forked by runner.ts): holds one model, with one KV cache per slot, and
 * serves the daemon's requests over the IPC channel (protocol.ts). A crash
 * here — a hostile GGUF, a kernel fault, kill -9 — ends this process only.
 */
import { isKilnError } from '../../common/errors.js';
import { Model } from '../../engine/model/model.js';
import { setThreads } from '../../kernels/index.js';
import { describeGpu, vulkanInfo } from '../../kernels/vulkan.js';
import { defaultNumKeep, Generator } from '../../engine/generate/index.js';
import type { EmbedMsg, FromRunner, GenerateMsg, LoadMsg, ToRunner } from './protocol.js';
import { fitPrompt, promptTokens } from './tokens.js';
import { formatMask, watchEvals } from './constrain.js';

interface Slot {
  model: Model;
  gen: Generator;
  /** Work on this slot runs in order: each request waits for the one before. */
  tail: Promise<void>;
  busy: boolean;
  /** Sees what the model evaluates (constrained decoding follows the sampled tokens through it). */
  evals: { watcher?: (tokens: ArrayLike<number>) => void };
}

/**
 * Streamed text leaves the runner at most this often. Every piece costs a
 * wake-up of the daemon and of the client; on a small machine those steal
 * time from the forward pass, whose threads wait on each other: with one
 * message per token, kjv ran at 0.62× the engine's own speed through
 * /api/generate on the 2-core dev machine (bench/serve.ts). Ten
 * milliseconds is below what a reader of the stream can see; a model slower
 * than one token per interval still sends every token as it comes.
 */
const CHUNK_INTERVAL_MS = 10;

const slots: Slot[] = [];
const jobs = new Map<number, AbortController>();

function send(m: FromRunner): void {
  process.send!(m);
}

/**
 * Lets queued IPC messages (a cancel) in between pieces of work: the forward
 * pass is synchronous. (The engine's generate loop yields to the event loop
 * after each token itself, so a cancel stops it within one token.)
 */
const tick = () => new Promise<void>((r) => setImmediate(r));

function errorOf(e: unknown): { code: string; message: string } {
  return { code: isKilnError(e) ? e.code : 'E_RUNNER', message: (e as Error)?.message ?? String(e) };
}

async function load(m: LoadMsg): Promise<void> {
  const t0 = process.hrtime.bigint();
  try {
    if (m.threads > 0) setThreads(m.threads);
    // num_gpu absent: as many layers as the chosen device holds (a CPU-type device only with KILN_GPU=vulkan);
    // each slot is its own model on the device, so each gets its share of the memory
    const vk = vulkanInfo();
    const numGpu = m.numGpu ?? (vk.selected >= 0 ? 'auto' : 0);
    const gpuMemory = vk.selected >= 0 ? vk.devices[vk.selected].memoryBytes / m.slots : 0;
    for (let i = 0; i < m.slots; i++) {
      // Each slot maps the same file (the page cache holds the weights once) and owns a KV cache.
      const model = await Model.load(m.path, { nCtx: m.numCtx, kvF16: m.kvF16, numGpu, gpuMemory });
      slots.push({ model, gen: new Generator(model), tail: Promise.resolve(), busy: false, evals: watchEvals(model) });
    }
    const gpu = slots.map((s) => s.model.native.gpu());
    send({
      t: 'loaded',
      nCtx: slots[0].model.hp.nCtx,
      loadDurationNs: Number(process.hrtime.bigint() - t0),
      gpuLayers: gpu[0].layers,
      gpuAll: gpu[0].layers === slots[0].model.hp.nLayer,
      vramBytes: gpu.reduce((a, g) => a + g.deviceBytes, 0),
      gpu: describeGpu(),
      gpuPlanBytes: slots[0].model.gpuPlan.bytes * slots.length,
    });
  } catch (e) {
    send({ t: 'load-failed', ...errorOf(e) });
    setImmediate(() => process.exit(1));
  }
}

function onSlot(n: number, id: number, work: (s: Slot) => Promise<void>): void {
  const s = slots[n];
  if (!s) {
    send({ t: 'error', id, code: 'E_RUNNER', message: `runner has no slot ${n}` });
    return;
  }
  s.tail = s.tail.then(async () => {
    s.busy = true;
    try {
      await work(s);
    } catch (e) {
      send({ t: 'error', id, ...errorOf(e) });
    } finally {
      s.busy = false;
      jobs.delete(id);
    }
  });
}

async function generate(s: Slot, m: GenerateMsg): Promise<void> {
  const ac = jobs.get(m.id)!;
  const tok = s.model.tokenizer;
  const nCtx = s.model.hp.nCtx;
  const { tokens, truncated } = fitPrompt(promptTokens(tok, m.prompt, m.context), nCtx, m.options.num_keep ?? defaultNumKeep(tok));
  const mask = m.format !== undefined ? formatMask(s.model, m.format, s.evals) : undefined;
  const it = s.gen.generate(tokens, { ...m.options, num_ctx: nCtx, signal: ac.signal, mask, shift: m.shift });
  // Pieces are sent at most every CHUNK_INTERVAL_MS (the first at once): see there.
  let text = '';
  let ids: number[] = [];
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    last = performance.now();
    if (text || ids.length) send({ t: 'chunk', id: m.id, text, tokens: ids });
    text = '';
    ids = [];
  };
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        flush();
        send({ t: 'done', id: m.id, stats: { ...r.value, doneReason: ac.signal.aborted ? 'cancel' : r.value.doneReason, truncated } });
        return;
      }
      text += r.value.text;
      ids = ids.concat(r.value.tokens);
      const since = performance.now() - last;
      if (since >= CHUNK_INTERVAL_MS) flush();
      else timer ??= setTimeout(flush, CHUNK_INTERVAL_MS - since);
    }
  } finally {
    clearTimeout(timer);
    s.evals.watcher = undefined;
  }
}

async function embed(s: Slot, m: EmbedMsg): Promise<void> {
  const tok = s.model.tokenizer;
  const nCtx = s.model.hp.nCtx;
  const out: Float32Array[] = [];
  let count = 0;
  for (const input of m.inputs) {
    let tokens = tok.encode(input, { addSpecial: true, parseSpecial: false });
    if (tokens.length > nCtx) {
      if (!m.truncate) {
        send({ t: 'error', id: m.id, code: 'E_BAD_REQUEST', message: `input length (${tokens.length} tokens) exceeds the context length (${nCtx})` });
        return;
      }
      tokens = tokens.slice(0, nCtx);
    }
    if (tokens.length === 0) tokens = tok.bos !== undefined ? [tok.bos] : [0];
    count += tokens.length;
    // Pooling as the model's metadata says; the engine answers L2-normalized vectors.
    out.push(s.gen.embed(tokens));
    await tick();
    if (jobs.get(m.id)?.signal.aborted) return;
  }
  send({ t: 'embedded', id: m.id, embeddings: out, promptEvalCount: count });
}

process.on('message', (raw) => {
  const m = raw as ToRunner;
  switch (m.t) {
    case 'load':
      void load(m);
      break;
    case 'generate':
      jobs.set(m.id, new AbortController());
      onSlot(m.slot, m.id, (s) => generate(s, m));
      break;
    case 'embed':
      jobs.set(m.id, new AbortController());
      onSlot(m.slot, m.id, (s) => embed(s, m));
      break;
    case 'cancel':
      jobs.get(m.id)?.abort();
      break;
    case 'health':
      send({ t: 'health', id: m.id, busySlots: slots.flatMap((s, i) => (s.busy ? [i] : [])), rss: process.memoryUsage.rss() });
      break;
  }
});

// The daemon going away closes the channel: nothing left to serve.
process.on('disconnect', () => process.exit(0));
