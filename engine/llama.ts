/**
 * The library API: kiln in a program, no daemon, in the spirit of
 * llama-cpp-python.
 *
 *   import { Llama } from 'kiln';
 *   const llm = new Llama({ modelPath: 'model.gguf', nCtx: 2048, nThreads: 4 });
 *   const r = await llm.complete('Q: Name the planets. A:', { maxTokens: 64, stop: ['Q:'] });
 *   console.log(r.choices[0].text);
 *   llm.close();
 *
 * Results follow OpenAI's completion and chat shapes. Calls on one Llama are
 * served one at a time, in order (one KV cache); a call that starts with the
 * previous call's tokens reuses them from the cache.
 */
import { basename } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setThreads } from '../kernels/index.js';
import { chatPromptTokens, type ChatTurn } from './chat-prompt.js';
import { KilnError } from '../common/errors.js';
import { Generator } from './generate/generator.js';
import type { GenerateChunk, GenerateOptions, GenerateStats, Pooling } from './generate/types.js';
import { readGGUFFile } from './gguf/reader.js';
import { llamaLayout } from './model/hparams.js';
import { Model } from './model/model.js';
import { detokenize as detokenizePieces, tokenize as tokenizeText, withPieces, type TokenizeOptions, type TokenWithPiece } from './tokenize.js';
import { isEncoderArch } from './model/bert.js';
import { EmbeddingModel, type RankResult } from './model/embedding.js';
import { kvString } from './gguf/metadata.js';

/** What a Llama holds: a generative model and its generator, or an embedding-only encoder. */
type Loaded = { model: Model; gen: Generator; encoder?: undefined } | { encoder: EmbeddingModel; model?: undefined; gen?: undefined };

export interface LlamaOptions {
  /** A GGUF file. */
  modelPath: string;
  /**
   * Accepted for llama-cpp-python compatibility and ignored: kiln computes on
   * the CPU (the weights stay memory-mapped; no layers are offloaded).
   */
  nGpuLayers?: number;
  /** Context length in tokens (default: the model's trained context, at most 4096). */
  nCtx?: number;
  /** Worker threads for the kernels. Process-wide: the last Llama constructed with it sets it. */
  nThreads?: number;
  /** KV cache in f16 (default) or f32. */
  kvF16?: boolean;
  /** An Ollama (Go text/template) chat template; default: the GGUF's tokenizer.chat_template. */
  template?: string;
}

export interface CompletionOptions {
  /** Most tokens to generate (default 256); -1: until the context is full. */
  maxTokens?: number;
  stop?: string | string[];
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  typicalP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  signal?: AbortSignal;
  /** Output constraint: set forbidden tokens' logits to -Infinity. */
  mask?: (logits: Float32Array) => void;
  /**
   * When the context fills: false (default) finishes with 'length'; true
   * shifts it (keeps `numKeep` tokens, drops the older half of the rest) and
   * goes on, as Ollama's server does.
   */
  shift?: boolean;
  /** Tokens at the start that a shift keeps (default: the BOS token, if the model adds one). */
  numKeep?: number;
}

export type FinishReason = 'stop' | 'length' | 'cancel';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: FinishReason }];
  usage: Usage;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: [{ index: 0; text: string; finish_reason: FinishReason | null }];
  /** On the last chunk only. */
  usage?: Usage;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: FinishReason }];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [{ index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null }];
  usage?: Usage;
}

export type { ChatTurn } from './chat-prompt.js';

const DEFAULT_MAX_TOKENS = 256;
const DEFAULT_CTX_CAP = 4096;

function generateOptions(o: CompletionOptions): GenerateOptions {
  return {
    num_predict: o.maxTokens ?? DEFAULT_MAX_TOKENS,
    stop: o.stop === undefined ? undefined : Array.isArray(o.stop) ? o.stop : [o.stop],
    temperature: o.temperature,
    top_k: o.topK,
    top_p: o.topP,
    min_p: o.minP,
    typical_p: o.typicalP,
    repeat_penalty: o.repeatPenalty,
    repeat_last_n: o.repeatLastN,
    presence_penalty: o.presencePenalty,
    frequency_penalty: o.frequencyPenalty,
    seed: o.seed,
    signal: o.signal,
    mask: o.mask,
    shift: o.shift,
    num_keep: o.numKeep,
  };
}

function usageOf(promptTokens: number, s: GenerateStats): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: s.evalCount, total_tokens: promptTokens + s.evalCount };
}

export class Llama {
  readonly modelPath: string;
  private readonly loading: Promise<Loaded>;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: LlamaOptions) {
    if (!opts || typeof opts.modelPath !== 'string') throw new KilnError('E_BAD_REQUEST', 'modelPath is required');
    this.modelPath = opts.modelPath;
    if (opts.nThreads !== undefined) setThreads(opts.nThreads);
    this.loading = (async (): Promise<Loaded> => {
      const file = await readGGUFFile(opts.modelPath);
      // an embedding model (bert, nomic-bert) embeds and ranks; it cannot complete or chat
      if (isEncoderArch(kvString(file, 'general.architecture') ?? '')) return { encoder: await EmbeddingModel.load(opts.modelPath, { nCtx: opts.nCtx }) };
      const nCtx = opts.nCtx ?? Math.min(llamaLayout(file).hp.trainCtx, DEFAULT_CTX_CAP);
      const model = await Model.load(opts.modelPath, { nCtx, kvF16: opts.kvF16 });
      return { model, gen: new Generator(model) };
    })();
    // A failed load surfaces on the first call (or `ready()`), not as an unhandled rejection.
    this.loading.catch(() => {});
  }

  /** Constructs and waits until the model is loaded. */
  static async load(opts: LlamaOptions): Promise<Llama> {
    const llm = new Llama(opts);
    await llm.ready();
    return llm;
  }

  /** Resolves when the model is loaded; rejects with the load error. */
  async ready(): Promise<void> {
    await this.loading;
  }

  /** The loaded model (metadata, tokenizer); an embedding model is refused (see encoder()). */
  async model(): Promise<Model> {
    return (await this.generative('generate')).model;
  }

  /** The loaded embedding model, when the file is one (bert, nomic-bert); undefined for a generative model. */
  async encoder(): Promise<EmbeddingModel | undefined> {
    return (await this.loading).encoder;
  }

  get modelName(): string {
    return basename(this.modelPath);
  }

  async tokenize(text: string, opts: boolean | TokenizeOptions = true): Promise<number[]> {
    const o = typeof opts === 'boolean' ? { addSpecial: opts } : opts;
    return tokenizeText(await this.tokenizer(), text, { addSpecial: o.addSpecial ?? true, parseSpecial: o.parseSpecial ?? false });
  }

  /** Tokens with their pieces, as the daemon's POST /api/tokenize with `with_pieces` (same options as tokenize). */
  async tokenizeWithPieces(text: string, opts: TokenizeOptions = {}): Promise<TokenWithPiece[]> {
    const tok = await this.tokenizer();
    return withPieces(tok, tokenizeText(tok, text, { addSpecial: opts.addSpecial ?? true, parseSpecial: opts.parseSpecial ?? false }));
  }

  /**
   * The text of `tokens`. With `special`, control tokens (BOS, end of turn)
   * are written as their text and nothing is cleaned up: the pieces joined,
   * as the daemon's POST /api/detokenize answers.
   */
  async detokenize(tokens: number[], opts: { special?: boolean } = {}): Promise<string> {
    const tok = await this.tokenizer();
    return opts.special ? detokenizePieces(tok, tokens) : tok.decode(tokens);
  }

  /** The loaded model's tokenizer, generative or embedding. */
  private async tokenizer() {
    const l = await this.loading;
    return (l.encoder ?? l.model).tokenizer;
  }

  async complete(prompt: string, opts: CompletionOptions = {}): Promise<Completion> {
    let text = '';
    let last: CompletionChunk | undefined;
    for await (const c of this.completeStream(prompt, opts)) {
      text += c.choices[0].text;
      last = c;
    }
    return {
      id: last!.id,
      object: 'text_completion',
      created: last!.created,
      model: last!.model,
      choices: [{ index: 0, text, finish_reason: last!.choices[0].finish_reason! }],
      usage: last!.usage!,
    };
  }

  /** Chunks as text arrives; the last one has text '' (or the tail), the finish_reason and usage. */
  async *completeStream(prompt: string, opts: CompletionOptions = {}): AsyncGenerator<CompletionChunk> {
    const head = { id: `cmpl-${randomUUID()}`, object: 'text_completion' as const, created: Math.floor(Date.now() / 1000), model: this.modelName };
    for await (const e of this.run((m) => m.tokenizer.encode(prompt), opts)) {
      if ('text' in e) yield { ...head, choices: [{ index: 0, text: e.text, finish_reason: null }] };
      else yield { ...head, choices: [{ index: 0, text: '', finish_reason: e.stats.doneReason }], usage: usageOf(e.promptTokens, e.stats) };
    }
  }

  /** A reply to the conversation, rendered with the model's chat template. */
  async chat(messages: ChatTurn[], opts: CompletionOptions = {}): Promise<ChatCompletion> {
    let content = '';
    let last: ChatCompletionChunk | undefined;
    for await (const c of this.chatStream(messages, opts)) {
      content += c.choices[0].delta.content ?? '';
      last = c;
    }
    return {
      id: last!.id,
      object: 'chat.completion',
      created: last!.created,
      model: last!.model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: last!.choices[0].finish_reason! }],
      usage: last!.usage!,
    };
  }

  async *chatStream(messages: ChatTurn[], opts: CompletionOptions = {}): AsyncGenerator<ChatCompletionChunk> {
    const head = { id: `chatcmpl-${randomUUID()}`, object: 'chat.completion.chunk' as const, created: Math.floor(Date.now() / 1000), model: this.modelName };
    let first = true;
    const tokens = (m: Model) => chatPromptTokens(m.file, m.tokenizer, messages, this.opts.template);
    for await (const e of this.run(tokens, opts, 'chat')) {
      if ('text' in e) {
        yield { ...head, choices: [{ index: 0, delta: first ? { role: 'assistant', content: e.text } : { content: e.text }, finish_reason: null }] };
        first = false;
      } else {
        yield { ...head, choices: [{ index: 0, delta: first ? { role: 'assistant', content: '' } : {}, finish_reason: e.stats.doneReason }], usage: usageOf(e.promptTokens, e.stats) };
      }
    }
  }

  /** An L2-normalized embedding of the text (pooling per the model's metadata unless given). */
  async embed(text: string, pooling?: Pooling): Promise<number[]> {
    return this.exclusive(async () => {
      const l = await this.loading;
      // an embedding model pools as its metadata says
      if (l.encoder) return Array.from(l.encoder.embed(text));
      return Array.from(l.gen.embed(l.model.tokenizer.encode(text), pooling));
    });
  }

  /**
   * Scores each document against the query with a reranker (an embedding
   * model with a classification head, pooling type rank, as bge-reranker):
   * the raw score and its sigmoid, in the documents' order.
   */
  async rank(query: string, documents: string[]): Promise<RankResult[]> {
    return this.exclusive(async () => {
      const { encoder } = await this.loading;
      if (!encoder) throw new KilnError('E_BAD_REQUEST', `${this.modelName} is not a reranker: it is a generative model`);
      return encoder.rank(query, documents);
    });
  }

  /** Frees the model once the calls already made have finished. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => {});
    const loaded = await this.loading.catch(() => undefined);
    (loaded?.encoder ?? loaded?.model)?.close();
  }

  /** Runs generation under the queue: text events, then one stats event. */
  private async *run(
    promptOf: (m: Model) => number[],
    opts: CompletionOptions,
    what: 'generate' | 'chat' = 'generate',
  ): AsyncGenerator<{ text: string } | { stats: GenerateStats; promptTokens: number }> {
    const release = await this.acquire();
    let it: AsyncGenerator<GenerateChunk, GenerateStats> | undefined;
    try {
      const { model, gen } = await this.generative(what);
      const prompt = promptOf(model);
      it = gen.generate(prompt, generateOptions(opts));
      for (;;) {
        const r = await it.next();
        if (r.done) {
          yield { stats: r.value, promptTokens: prompt.length };
          return;
        }
        yield { text: r.value.text };
      }
    } finally {
      // A caller that stops reading early leaves the generator suspended: close it so the model is free.
      await it?.return(undefined as never);
      release();
    }
  }

  /** The generative model, or Ollama's refusal for an embedding model. */
  private async generative(what: string): Promise<{ model: Model; gen: Generator }> {
    const l = await this.loading;
    if (l.encoder) throw new KilnError('E_BAD_REQUEST', `${JSON.stringify(this.modelName)} does not support ${what}: it is an embedding model`);
    return l;
  }

  private async exclusive<T>(f: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await f();
    } finally {
      release();
    }
  }

  /** Waits for the calls before this one; returns the function that lets the next one in. */
  private async acquire(): Promise<() => void> {
    if (this.closed) throw new KilnError('E_BAD_REQUEST', 'this Llama is closed');
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = this.queue;
    this.queue = before.then(() => mine);
    await before;
    return release;
  }
}
