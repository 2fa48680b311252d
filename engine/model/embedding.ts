/**
 * A loaded embedding-only model (bert, nomic-bert): its metadata, tokenizer
 * and native encoder over the mapped file. It encodes whole inputs into one
 * pooled vector each, or scores (query, document) pairs when it is a
 * reranker; it never generates.
 */
import { KilnError } from '../../common/errors.js';
import { readGGUFFile, type GGUFFile } from '../gguf/reader.js';
import { Tokenizer } from '../tokenizer/index.js';
import { mapFile, NativeBert, type MappedFile, type PoolingType } from '../../kernels/index.js';
import { bertLayout, type BertHParams } from './bert.js';

export interface EmbeddingLoadOptions {
  /** Most tokens one input may have; default the model's trained context. */
  nCtx?: number;
  /** Pooling instead of the model's `{arch}.pooling_type`. */
  pooling?: PoolingType;
}

/** A scored document of a rank() call. */
export interface RankResult {
  /** The document's index in the request. */
  index: number;
  /** The classifier's raw output (a logit), as llama.cpp's ranking returns it. */
  score: number;
  /** sigmoid(score): the probability that the document is relevant, as node-llama-cpp's ranking returns it. */
  relevance: number;
}

export class EmbeddingModel {
  readonly kind = 'embedding' as const;

  private constructor(
    readonly path: string,
    readonly file: GGUFFile,
    readonly hp: BertHParams,
    private readonly tok: Tokenizer | Error,
    readonly encoder: NativeBert,
    private readonly map: MappedFile,
  ) {}

  static async load(path: string, opts: EmbeddingLoadOptions = {}): Promise<EmbeddingModel> {
    const file = await readGGUFFile(path);
    const { hp, weights } = bertLayout(file, opts);
    // A tokenizer kiln cannot read leaves the model usable with token ids.
    let tok: Tokenizer | Error;
    try {
      tok = Tokenizer.fromGGUF(file);
    } catch (e) {
      tok = e as Error;
    }
    const map = mapFile(path);
    try {
      return new EmbeddingModel(path, file, hp, tok, new NativeBert(map, hp, weights), map);
    } catch (e) {
      map.unmap();
      throw e;
    }
  }

  /** The model's tokenizer (throws the reason when kiln cannot read it). */
  get tokenizer(): Tokenizer {
    if (this.tok instanceof Error) throw this.tok;
    return this.tok;
  }

  /** Whether the model scores pairs (pooling rank) rather than embedding texts. */
  get isReranker(): boolean {
    return this.hp.pooling === 'rank';
  }

  /**
   * The pooled, unnormalized output for one input of token ids: the pooled
   * hidden state (mean, cls, last), every token's (none), or the classifier's
   * outputs (rank).
   */
  encodeTokens(tokens: ArrayLike<number>): Float32Array {
    if (tokens.length === 0) throw new KilnError('E_BAD_REQUEST', 'the input is empty');
    if (tokens.length > this.hp.nCtx) {
      throw new KilnError('E_BAD_REQUEST', `the input is ${tokens.length} tokens but the context is ${this.hp.nCtx}`);
    }
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.hp.nVocab) throw new KilnError('E_BAD_REQUEST', `token id ${t} is outside the vocabulary (0..${this.hp.nVocab - 1})`);
    }
    return this.encoder.encode(tokens);
  }

  /** The relevance score (the classifier's first output) of one tokenized (query, document) pair. */
  scoreTokens(pair: ArrayLike<number>): number {
    if (!this.isReranker) throw new KilnError('E_BAD_REQUEST', `${this.hp.arch} model is not a reranker (its pooling is ${this.hp.pooling})`);
    return this.encodeTokens(pair)[0];
  }

  /**
   * One input's embedding, L2-normalized as Ollama's /api/embed returns it:
   * pooled as the model says (a model without a pooling type is mean-pooled).
   */
  embedTokens(tokens: ArrayLike<number>): Float32Array {
    if (this.isReranker) throw new KilnError('E_BAD_REQUEST', `this ${this.hp.arch} model is a reranker: it scores (query, document) pairs and does not embed`);
    let v = this.encodeTokens(tokens);
    if (this.hp.pooling === 'none') v = meanRows(v, tokens.length, this.hp.nEmbd);
    return l2normalize(v);
  }

  /** The L2-normalized embedding of a text (tokenized with the model's special tokens: [CLS] … [SEP]). */
  embed(text: string): Float32Array {
    return this.embedTokens(this.tokenizer.encode(text, { addSpecial: true, parseSpecial: false }));
  }

  /**
   * Scores each document against the query, the pair written as llama.cpp's
   * server writes it (Tokenizer.encodePair), and returns them in the request's
   * order with their raw score and its sigmoid.
   */
  rank(query: string, documents: string[]): RankResult[] {
    return documents.map((doc, index) => {
      const score = this.scoreTokens(this.tokenizer.encodePair(query, doc));
      return { index, score, relevance: sigmoid(score) };
    });
  }

  /** Frees the native encoder, then the mapping (in that order: the encoder points into it). */
  close(): void {
    this.encoder.free();
    this.map.unmap();
  }
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** The mean of `rows` rows of `width` floats, summed in float64. */
function meanRows(v: Float32Array, rows: number, width: number): Float32Array {
  const sum = new Float64Array(width);
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) sum[j] += v[r * width + j];
  return Float32Array.from(sum, (x) => x / rows);
}

/** v scaled to unit length (a zero vector stays zero). */
export function l2normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i] * v[i];
  const s = n > 0 ? 1 / Math.sqrt(n) : 0;
  return Float32Array.from(v, (x) => x * s);
}
