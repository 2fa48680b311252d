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

  /** Frees the native encoder, then the mapping (in that order: the encoder points into it). */
  close(): void {
    this.encoder.free();
    this.map.unmap();
  }
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
