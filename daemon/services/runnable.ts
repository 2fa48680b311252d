import { statSync } from 'node:fs';
import { KilnError } from '../../common/errors.js';
import { readGGUFFile } from '../../engine/gguf/reader.js';
import { kvNumber, kvString } from '../../engine/gguf/metadata.js';
import { llamaLayout } from '../../engine/model/hparams.js';
import { bertLayout, isEncoderArch } from '../../engine/model/bert.js';
import { Tokenizer } from '../../engine/tokenizer/index.js';
import { MEDIA } from '../../common/manifest.js';
import type { ModelDetails } from '../api/types.js';
import type { ModelShape } from '../scheduler/memory.js';
import type { KvTypes } from '../../common/kv-cache.js';
import type { ModelSpec } from '../scheduler/scheduler.js';
import type { ModelRecord, Store } from '../../store/index.js';
import { detailsOf, readModelConfig } from './model-config.js';
import { readLayers, type ModelLayers } from './models.js';
import type { RunOptions } from './options.js';
import { findModel } from './resolve.js';
import { promptTokens } from '../runner/tokens.js';

/** What serving needs from a model's GGUF header, read once per blob. */
export interface GGUFFacts {
  shape: ModelShape;
  trainCtx: number;
  chatTemplate?: string;
  bosText: string;
  eosText: string;
  fileSize: number;
  /** An embedding-only model (an encoder: bert, nomic-bert): it embeds and never generates. */
  embedding: boolean;
  /** An encoder with a classification head (pooling type rank): it scores (query, document) pairs. */
  reranker: boolean;
}

/** A model ready to be scheduled: its name, layers (template, system, params) and GGUF facts. */
export interface RunnableModel {
  name: string;
  record: ModelRecord;
  layers: ModelLayers;
  path: string;
  facts: GGUFFacts;
  details: ModelDetails;
  /** It has a vision projector layer (kiln cannot run one yet). */
  vision: boolean;
}

const cache = new Map<string, Promise<GGUFFacts>>();

function tokenText(tokens: unknown, id: number | undefined): string {
  if (id === undefined || !Array.isArray(tokens)) return '';
  const t = tokens[id];
  return typeof t === 'string' ? t : '';
}

async function readFacts(path: string): Promise<GGUFFacts> {
  const file = await readGGUFFile(path);
  const embedding = isEncoderArch(kvString(file, 'general.architecture') ?? '');
  const { hp } = embedding ? bertLayout(file) : llamaLayout(file);
  const tokens = file.kv.get('tokenizer.ggml.tokens')?.value;
  return {
    embedding,
    reranker: embedding && kvNumber(file, `${kvString(file, 'general.architecture')}.pooling_type`) === 4,
    shape: { nLayer: hp.nLayer, nEmbd: hp.nEmbd, nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, nFf: hp.nFf, nVocab: hp.nVocab },
    trainCtx: hp.trainCtx,
    chatTemplate: kvString(file, 'tokenizer.chat_template'),
    bosText: tokenText(tokens, kvNumber(file, 'tokenizer.ggml.bos_token_id')),
    eosText: tokenText(tokens, kvNumber(file, 'tokenizer.ggml.eos_token_id')),
    fileSize: statSync(path).size,
  };
}

/** The GGUF facts of a blob; cached (blobs never change), a failed read is not. */
export function ggufFacts(path: string): Promise<GGUFFacts> {
  let p = cache.get(path);
  if (!p) {
    p = readFacts(path);
    cache.set(path, p);
    p.catch(() => cache.delete(path));
    if (cache.size > 64) cache.delete(cache.keys().next().value!);
  }
  return p;
}

export async function runnableModel(store: Store, typed: string): Promise<RunnableModel> {
  const { record } = findModel(store, typed);
  const layers = readLayers(store, record);
  if (!layers.model) throw new KilnError('E_BAD_REQUEST', `model '${typed}' has no weights layer to run`);
  const path = store.blobs.path(layers.model.digest);
  return {
    name: record.name,
    record,
    layers,
    path,
    facts: await ggufFacts(path),
    details: detailsOf(readModelConfig(store.blobs, record.manifest.config.digest)),
    vision: record.manifest.layers.some((l) => l.mediaType === MEDIA.projector),
  };
}

const tokenizers = new Map<string, Tokenizer>();

/**
 * Tokens in a rendered prompt, counted in the daemon (chat history is fitted
 * to the context before the request is queued). The tokenizer is read from
 * the GGUF header once per blob.
 */
export function countTokens(path: string, text: string): number {
  return tokenizerOf(path).encode(text, { addSpecial: true, parseSpecial: true }).length;
}

/** Tokens the runner will evaluate for a rendered prompt (BOS once, as runner/tokens.ts does): Anthropic's count_tokens. */
export function promptTokenCount(path: string, text: string): number {
  return promptTokens(tokenizerOf(path), text).length;
}

/** A blob's tokenizer, read from its GGUF header (no weights), cached for the last few blobs. */
export function tokenizerOf(path: string): Tokenizer {
  let tok = tokenizers.get(path);
  if (!tok) {
    tok = Tokenizer.fromGGUF(path);
    if (tokenizers.size >= 8) tokenizers.delete(tokenizers.keys().next().value!);
    tokenizers.set(path, tok);
  }
  return tok;
}

/**
 * Refuses generate/chat on an embedding-only model with Ollama's 400 and
 * wording: `"<model as the request named it>" does not support generate`.
 */
export function requireCompletion(m: RunnableModel, requested: string, what: 'generate' | 'chat'): void {
  if (m.facts.embedding) throw new KilnError('E_BAD_REQUEST', `${JSON.stringify(requested)} does not support ${what}`);
}

/** What the scheduler loads for a request: the model at the request's context length, GPU layers, threads and KV cache types. */
export function modelSpec(m: RunnableModel, o: Pick<RunOptions, 'numCtx' | 'numGpu' | 'numThread'> & { kvTypes?: KvTypes }): ModelSpec {
  return {
    ...(o.kvTypes === undefined ? {} : { kvTypes: o.kvTypes }),
    ...(o.numGpu === undefined ? {} : { numGpu: o.numGpu }),
    ...(o.numThread === undefined ? {} : { numThread: o.numThread }),
    path: m.path,
    name: m.name,
    digest: m.record.digest.replace(/^sha256:/, ''),
    details: m.details,
    shape: m.facts.shape,
    fileSize: m.facts.fileSize,
    numCtx: o.numCtx,
  };
}
