/**
 * Entry of a runner process (compiled to dist/daemon/runner/main.js and
 * forked by runner.ts): holds one model, whose native context has one KV
 * cache region (sequence) per slot, and serves the daemon's requests over
 * the IPC channel (protocol.ts). The slots' generations advance together,
 * one batched forward pass per step (engine/generate/batch.ts), and their
 * conversations' KV prefixes are kept in a prompt cache. A crash
 * here — a hostile GGUF, a kernel fault, kill -9 — ends this process only.
 */
import { isKilnError } from '../../common/errors.js';
import { loadModel, type Model } from '../../engine/model/model.js';
import type { EmbeddingModel } from '../../engine/model/embedding.js';
import { setThreads, threads } from '../../kernels/index.js';
import { describeGpu, vulkanInfo } from '../../kernels/vulkan.js';
import { defaultNumKeep, Generator } from '../../engine/generate/index.js';
import { PromptCache } from '../../engine/generate/prompt-cache.js';
import type { EmbedMsg, FromRunner, GenerateMsg, LoadMsg, RankMsg, ToRunner } from './protocol.js';
import { fitPrompt, promptTokens } from './tokens.js';
import { grammarConstraint } from './constrain.js';
import { formatGrammar } from '../../engine/grammar/json-schema.js';
import { toolCallGrammar } from '../../engine/grammar/tool-call.js';
import type { TokenLogprob as EngineLogprob } from '../../engine/generate/index.js';
import type { TokenLogprob } from '../api/types.js';
import type { Tokenizer } from '../../engine/tokenizer/index.js';

interface SlotBase {
  /** Work on this slot runs in order: each request waits for the one before. */
  tail: Promise<void>;
  busy: boolean;
}

/** A slot of a generative model: its sequence (KV cache region) of the shared native context. */
interface GenerativeSlot extends SlotBase {
  model: Model;
  gen: Generator;
  encoder?: undefined;
}

/** A slot of an embedding-only model (an encoder: no cache, whole inputs). */
interface EncoderSlot extends SlotBase {
  encoder: EmbeddingModel;
}

type Slot = GenerativeSlot | EncoderSlot;

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
let promptCache: PromptCache | undefined;
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
    // num_gpu absent: as many layers as the chosen device holds (a CPU-type device only with KILN_GPU=vulkan).
    // The device holds every slot's cache of its layers (the plan counts them).
    const vk = vulkanInfo();
    const numGpu = m.numGpu ?? (vk.selected >= 0 ? 'auto' : 0);
    const gpuMemory = vk.selected >= 0 ? vk.devices[vk.selected].memoryBytes : 0;
    // One native context: a KV cache region per slot, the weights mapped once (an encoder: one model, whole inputs).
    const model = await loadModel(m.path, { nCtx: m.numCtx, kvF16: m.kvF16, kvTypes: m.kvTypes, nSeq: m.slots, numGpu, gpuMemory });
    if (model.kind === 'embedding') {
      for (let i = 0; i < m.slots; i++) slots.push({ encoder: model, tail: Promise.resolve(), busy: false });
    } else {
      // (the KV rows of offloaded layers live on the GPU: such a model keeps no prompt cache)
      promptCache = m.promptCacheBytes > 0 && model.native.gpu().layers === 0 ? new PromptCache(m.promptCacheBytes, model.hp.nLayer, model.kvRowBytes) : undefined;
      // entries a previous runner of this model kept (the daemon held them while it was unloaded)
      for (const e of m.promptCache ?? []) promptCache?.add({ tokens: e.tokens, bytes: new Uint8Array(e.bytes) });
      for (let i = 0; i < m.slots; i++) slots.push({ model, gen: new Generator(model, { seq: i, promptCache }), tail: Promise.resolve(), busy: false });
    }
    const first = slots[0];
    const gpu = first.encoder ? { layers: 0, deviceBytes: 0 } : first.model.native.gpu();
    send({
      t: 'loaded',
      nCtx: first.encoder ? first.encoder.hp.nCtx : first.model.hp.nCtx,
      loadDurationNs: Number(process.hrtime.bigint() - t0),
      threads: threads(),
      gpuLayers: gpu.layers,
      gpuAll: !first.encoder && gpu.layers === first.model.hp.nLayer,
      vramBytes: gpu.deviceBytes,
      gpu: describeGpu(),
      gpuPlanBytes: first.encoder ? 0 : first.model.gpuPlan.bytes,
      // the cache types the model really holds (f16 where a quantized cache was asked for and cannot be)
      ...(first.encoder ? {} : { kvTypes: first.model.kvTypes }),
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
  if (s.encoder) {
    // the daemon refuses this first (runnable.ts requireCompletion); kept so the runner never misuses an encoder
    send({ t: 'error', id: m.id, code: 'E_BAD_REQUEST', message: 'this is an embedding model: it does not generate' });
    return;
  }
  const ac = jobs.get(m.id)!;
  const tok = s.model.tokenizer;
  const nCtx = s.model.hp.nCtx;
  const { tokens, truncated } = fitPrompt(promptTokens(tok, m.prompt, m.context), nCtx, m.options.num_keep ?? defaultNumKeep(tok));
  const grammar = m.toolCalls ? toolCallGrammar(m.toolCalls) : m.format !== undefined ? formatGrammar(m.format) : undefined;
  const constrain = grammar ? grammarConstraint(s.model, grammar) : undefined;
  const it = s.gen.generate(tokens, {
    ...m.options,
    num_ctx: nCtx,
    signal: ac.signal,
    mask: constrain?.mask,
    onSample: constrain?.onSample,
    shift: m.shift,
    logprobs: m.logprobs,
  });
  // Pieces are sent at most every CHUNK_INTERVAL_MS (the first at once): see there.
  let text = '';
  let ids: number[] = [];
  let lps: TokenLogprob[] = [];
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    last = performance.now();
    if (text || ids.length) send({ t: 'chunk', id: m.id, text, tokens: ids, ...(m.logprobs !== undefined ? { logprobs: lps } : {}) });
    text = '';
    ids = [];
    lps = [];
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
      if (r.value.logprobs) for (const lp of r.value.logprobs) lps.push(wireLogprob(tok, lp));
      const since = performance.now() - last;
      if (since >= CHUNK_INTERVAL_MS) flush();
      else timer ??= setTimeout(flush, CHUNK_INTERVAL_MS - since);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Embeddings from an encoder: each input whole ([CLS] … [SEP]), pooled as the model says, L2-normalized. */
async function encode(enc: EmbeddingModel, m: EmbedMsg): Promise<void> {
  const nCtx = enc.hp.nCtx;
  const out: Float32Array[] = [];
  let count = 0;
  for (const input of m.inputs) {
    let tokens = enc.tokenizer.encode(input, { addSpecial: true, parseSpecial: false });
    if (tokens.length > nCtx) {
      if (!m.truncate) {
        send({ t: 'error', id: m.id, code: 'E_BAD_REQUEST', message: `input length (${tokens.length} tokens) exceeds the context length (${nCtx})` });
        return;
      }
      tokens = tokens.slice(0, nCtx);
    }
    count += tokens.length;
    out.push(enc.embedTokens(tokens));
    await tick();
    if (jobs.get(m.id)?.signal.aborted) return;
  }
  send({ t: 'embedded', id: m.id, embeddings: out, promptEvalCount: count });
}

/** Relevance scores of a reranker: each (query, document) pair as llama.cpp's server writes it, scored by the classifier head. */
async function rank(s: Slot, m: RankMsg): Promise<void> {
  if (!s.encoder || !s.encoder.isReranker) {
    send({ t: 'error', id: m.id, code: 'E_BAD_REQUEST', message: 'this model is not a reranker: it has no classification head (pooling type rank)' });
    return;
  }
  const enc = s.encoder;
  const nCtx = enc.hp.nCtx;
  const scores: number[] = [];
  let count = 0;
  for (const doc of m.documents) {
    let pair = enc.tokenizer.encodePair(m.query, doc);
    if (pair.length > nCtx) {
      if (!m.truncate) {
        send({ t: 'error', id: m.id, code: 'E_BAD_REQUEST', message: `query and document (${pair.length} tokens) exceed the context length (${nCtx})` });
        return;
      }
      pair = pair.slice(0, nCtx);
    }
    count += pair.length;
    scores.push(enc.scoreTokens(pair));
    await tick();
    if (jobs.get(m.id)?.signal.aborted) return;
  }
  send({ t: 'ranked', id: m.id, scores, promptEvalCount: count });
}

/** A token's text and bytes as the API shows them (a piece of a character decodes to U+FFFD in `token`). */
function tokenWire(tok: Tokenizer, id: number): { token: string; bytes: number[] } {
  // control tokens by their text (`<|eot_id|>` may be among the likely ones)
  const bytes = tok.tokenToBytes(id, { special: true });
  return { token: new TextDecoder().decode(bytes), bytes: Array.from(bytes) };
}

function wireLogprob(tok: Tokenizer, lp: EngineLogprob): TokenLogprob {
  return {
    ...tokenWire(tok, lp.id),
    logprob: lp.logprob,
    ...(lp.top ? { top_logprobs: lp.top.map((t) => ({ ...tokenWire(tok, t.id), logprob: t.logprob })) } : {}),
  };
}

async function embed(s: Slot, m: EmbedMsg): Promise<void> {
  if (s.encoder) return encode(s.encoder, m);
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
    case 'rank':
      jobs.set(m.id, new AbortController());
      onSlot(m.slot, m.id, (s) => rank(s, m));
      break;
    case 'cancel':
      jobs.get(m.id)?.abort();
      break;
    case 'park':
      // the runner is about to be stopped: the prompt cache goes to the daemon, for the next runner of this model
      send({ t: 'parked', id: m.id, entries: (promptCache?.list() ?? []).map((e) => ({ tokens: e.tokens, bytes: e.bytes })) });
      break;
    case 'health':
      send({ t: 'health', id: m.id, busySlots: slots.flatMap((s, i) => (s.busy ? [i] : [])), rss: process.memoryUsage.rss() });
      break;
  }
});

// The daemon going away closes the channel: nothing left to serve.
process.on('disconnect', () => process.exit(0));
