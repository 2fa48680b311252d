import { Hono } from 'hono';
import { rerank } from './services/rerank.js';
import { isKilnError, KilnError } from '../common/errors.js';
import { parseDigest } from '../common/digest.js';
import type { FitResponse, OpenAIModelList, ProgressResponse, PsResponse, VersionResponse } from './api/types.js';
import * as parse from './api/parse.js';
import type { Config } from './config.js';
import { errorBody, openStreams, readJson } from './http.js';
import { guard } from './security.js';
import { requestLog } from './debug.js';
import { createModel } from './services/create.js';
import { pullModel } from '../registry/pull.js';
import { pushModel } from '../registry/push.js';
import { checkPushLayer, registryContext } from './services/registry.js';
import { exportResponse, importRequest } from './services/archive.js';
import { pruneStore, verifyStore } from '../registry/maintenance.js';
import { importOllama } from '../registry/ollama-import.js';
import type { ImportQuery, KeyCreateResponse, KeyListResponse, KeyRevokeResponse, PruneResponse, VerifyProgress } from './api/types.js';
import { copyModel, deleteModel, listModels, showModel } from './services/models.js';
import { requestName } from './services/resolve.js';
import { fitModel } from './services/fit.js';
import type { Store } from '../store/index.js';
import { kilnVersion } from './version.js';
import type { Scheduler } from './scheduler/scheduler.js';
import { chat, mergeChat } from './services/chat.js';
import { embed, embeddings } from './services/embed.js';
import { generate, mergeGenerate } from './services/generate.js';
import { findModel } from './services/resolve.js';
import { collect, NDJSON, progressResponse, requestAbort, requestScope, streamObjects } from './stream.js';
import { toChatChunks, toChatCompletion, toNativeChat } from './openai/chat.js';
import { toCompletion, toCompletionChunks, toNativeGenerate } from './openai/completions.js';
import { toEmbeddingResponse, toNativeEmbed } from './openai/embeddings.js';
import { openaiError } from './openai/errors.js';
import { toOpenAIModel } from './openai/models.js';
import { SSE } from './openai/sse.js';
import { requireKey } from './auth.js';
import { countPullBytes, countRequests, metrics } from './metrics.js';
import { createKey, listKeys, revokeKey } from './services/keys.js';
import { detokenize, tokenize } from './services/tokenize.js';
import { parseResponses } from './api/parse-responses.js';
import { parseAnthropicCountTokens, parseAnthropicMessages } from './api/parse-anthropic.js';
import type { AnthropicCountTokensResponse, ResponsesDeleted } from './api/types.js';
import * as responses from './openai/responses.js';
import { RESPONSES_SSE, toResponseEvents } from './openai/responses-stream.js';
import { anthropicError } from './anthropic/errors.js';
import * as anthropic from './anthropic/messages.js';
import { ANTHROPIC_SSE, toMessageEvents } from './anthropic/stream.js';
import { countChatTokens } from './services/count.js';

/** The error shape a path answers in: Anthropic's under /v1/messages, OpenAI's elsewhere under /v1, Ollama's otherwise. */
function errorFor(path: string, e: unknown): { status: number; body: object } {
  if (path === '/v1/messages' || path.startsWith('/v1/messages/')) return anthropicError(e);
  return path.startsWith('/v1/') ? openaiError(e) : errorBody(e);
}

export interface AppDeps {
  config: Config;
  store: Store;
  scheduler: Scheduler;
  log: (msg: string) => void;
  /** Debug lines (KILN_DEBUG); absent when off. */
  debug?: (msg: string) => void;
}

/**
 * The route table. Handlers only parse (api/parse.ts: every JSON body is
 * validated here, into its typed request), call a service and answer; every
 * error is a KilnError mapped to its status and `{"error": ...}` in onError.
 * The TCP app checks the Host header; the unix-socket app (the CLI's) does not.
 */
export function createApp(deps: AppDeps, transport: 'tcp' | 'unix'): Hono {
  const { config, store } = deps;
  const app = new Hono();
  const json = async <T>(c: Parameters<typeof readJson>[0], parser: (body: unknown) => T): Promise<T> => parser(await readJson(c, config.maxBodyBytes));

  app.use('*', countRequests());
  if (deps.debug) app.use('*', requestLog(deps.debug, transport));
  app.use('*', guard(config, transport));
  // API keys (daemon/auth.ts): on TCP only, once a key exists. The socket is owner-only.
  if (transport === 'tcp') app.use('*', requireKey(store, deps.log));
  // KILN_DEBUG only: what tests need to see that nothing leaks (?gc runs a collection first when node has
  // --expose-gc). Before requestScope, so that it does not count itself.
  if (config.debug) {
    app.get('/api/debug/internals', (c) => {
      if (c.req.query('gc') !== undefined) (globalThis as { gc?: () => void }).gc?.();
      return c.json({ open_streams: openStreams.size, runner_requests: deps.scheduler.runnerRequests(), heap_used: process.memoryUsage().heapUsed });
    });
  }

  app.use('*', requestScope);

  app.on(['GET', 'HEAD'], '/', (c) => c.text('kiln is running'));
  app.on(['GET', 'HEAD'], '/api/version', (c) => c.json<VersionResponse>({ version: kilnVersion() }));
  app.on(['GET', 'HEAD'], '/api/tags', (c) => c.json(listModels(store)));
  app.get('/api/ps', (c) => c.json<PsResponse>({ models: deps.scheduler.list() }));

  // Generation: the service resolves once a slot is held (errors so far are HTTP statuses), then streams.
  app.post('/api/generate', async (c) => {
    const req = await json(c, parse.parseGenerate);
    const ac = requestAbort(c);
    const lines = await generate(deps, req, ac.signal);
    return req.stream !== false ? streamObjects(ac, lines, NDJSON) : c.json(mergeGenerate(await collect(lines)));
  });
  app.post('/api/chat', async (c) => {
    const req = await json(c, parse.parseChat);
    const ac = requestAbort(c);
    const lines = await chat(deps, req, ac.signal);
    return req.stream !== false ? streamObjects(ac, lines, NDJSON) : c.json(mergeChat(await collect(lines)));
  });
  app.post('/api/embed', async (c) => c.json(await embed(deps, await json(c, parse.parseEmbed), requestAbort(c).signal)));
  app.post('/api/embeddings', async (c) => c.json(await embeddings(deps, await json(c, parse.parseEmbeddings), requestAbort(c).signal)));
  app.post('/api/rerank', async (c) => c.json(await rerank(deps, await json(c, parse.parseRerank), requestAbort(c).signal)));
  app.post('/v1/rerank', async (c) => c.json(await rerank(deps, await json(c, parse.parseRerank), requestAbort(c).signal)));

  // OpenAI compatibility: translated into the native services above; errors in OpenAI's shape (onError).
  app.post('/v1/chat/completions', async (c) => {
    const req = await json(c, parse.parseOpenAIChat);
    const ac = requestAbort(c);
    const lines = await chat(deps, toNativeChat(req), ac.signal);
    if (req.stream) return streamObjects(ac, toChatChunks(lines, req.stream_options?.include_usage === true), SSE);
    return c.json(toChatCompletion(mergeChat(await collect(lines))));
  });
  app.post('/v1/completions', async (c) => {
    const req = await json(c, parse.parseOpenAICompletion);
    const ac = requestAbort(c);
    const native = toNativeGenerate(req);
    const echo = req.echo ? native.prompt : undefined;
    const lines = await generate(deps, native, ac.signal);
    if (req.stream) return streamObjects(ac, toCompletionChunks(lines, req.stream_options?.include_usage === true, echo, req.logprobs), SSE);
    return c.json(toCompletion(mergeGenerate(await collect(lines)), echo, req.logprobs));
  });
  app.post('/v1/embeddings', async (c) => {
    const req = await json(c, parse.parseOpenAIEmbedding);
    return c.json(toEmbeddingResponse(await embed(deps, toNativeEmbed(req), requestAbort(c).signal), req.encoding_format));
  });
  // OpenAI's Responses API: the conversation (with previous_response_id's chain) as a native chat.
  app.post('/v1/responses', async (c) => {
    const req = await json(c, parseResponses);
    const conversation = responses.conversationOf(store, req);
    const ac = requestAbort(c);
    const lines = await chat(deps, responses.toNativeChat(req, conversation), ac.signal);
    const shell = responses.responseShell(req);
    const keep = (r: ReturnType<typeof responses.finishResponse>) => responses.keepResponse(store, config.responsesTtlMs, r, conversation);
    if (req.stream) return streamObjects(ac, toResponseEvents(lines, shell, keep), RESPONSES_SSE);
    const merged = mergeChat(await collect(lines));
    const done = responses.finishResponse(shell, responses.outputItems(merged), merged);
    keep(done);
    return c.json(done);
  });
  app.get('/v1/responses/:id', (c) => c.json(responses.storedResponse(store, c.req.param('id'))));
  app.delete('/v1/responses/:id', (c) => {
    const id = c.req.param('id');
    if (!store.responses.delete(id, Date.now())) throw new KilnError('E_NOT_FOUND', `Response with id '${id}' not found.`);
    return c.json<ResponsesDeleted>({ id, object: 'response', deleted: true });
  });

  // Anthropic's Messages API (errors in Anthropic's shape, see errorFor). x-api-key is accepted like any header.
  app.post('/v1/messages', async (c) => {
    const req = await json(c, parseAnthropicMessages);
    const ac = requestAbort(c);
    const lines = await chat(deps, anthropic.toNativeChat(req), ac.signal);
    if (req.stream) return streamObjects(ac, toMessageEvents(lines, req.model), ANTHROPIC_SSE);
    return c.json(anthropic.toMessage(mergeChat(await collect(lines))));
  });
  app.post('/v1/messages/count_tokens', async (c) => {
    const req = await json(c, parseAnthropicCountTokens);
    return c.json<AnthropicCountTokensResponse>({ input_tokens: await countChatTokens(deps, anthropic.toNativeChat(req)) });
  });

  app.get('/v1/models', (c) => c.json<OpenAIModelList>({ object: 'list', data: listModels(store).models.map(toOpenAIModel) }));
  app.get('/v1/models/:id{.+}', (c) => {
    const { record } = findModel(store, c.req.param('id'));
    return c.json(toOpenAIModel({ name: record.name, modified_at: record.modifiedAt.toISOString() }));
  });

  app.post('/api/tokenize', async (c) => c.json(await tokenize(store, await json(c, parse.parseTokenize))));
  app.post('/api/detokenize', async (c) => c.json(await detokenize(store, await json(c, parse.parseDetokenize))));

  if (config.metrics) {
    app.get('/metrics', (c) => {
      const body = metrics.render({ queueDepth: () => deps.scheduler.queueDepth(), loaded: () => deps.scheduler.list().map((m) => ({ name: m.name, bytes: m.size })) });
      return c.body(body, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    });
  }

  // Key management: the unix socket only (the owner's door); never over TCP, whatever the key.
  if (transport === 'unix') {
    app.post('/api/keys', async (c) => c.json<KeyCreateResponse>(createKey(store, await json(c, parse.parseKeyCreate))));
    app.get('/api/keys', (c) => c.json<KeyListResponse>(listKeys(store)));
    app.delete('/api/keys', async (c) => c.json<KeyRevokeResponse>(revokeKey(store, config, (await json(c, parse.parseKeyRevoke)).id)));
  }

  app.post('/api/show', async (c) => {
    const req = await json(c, parse.parseShow);
    return c.json(await showModel(store, requestName(req), req.verbose === true));
  });
  // the memory plan of a local model and its other quantizations before loading it (`kiln show NAME --fit`)
  app.post('/api/fit', async (c) => {
    const req = await json(c, parse.parseFit);
    return c.json<FitResponse>(await fitModel({ store, config: deps.config, scheduler: deps.scheduler, log: deps.log }, requestName(req), req, requestAbort(c).signal));
  });
  app.delete('/api/delete', async (c) => {
    deleteModel(store, requestName(await json(c, parse.parseDelete)));
    return c.body(null, 200);
  });
  app.post('/api/copy', async (c) => {
    const req = await json(c, parse.parseCopy);
    copyModel(store, req.source, req.destination);
    return c.body(null, 200);
  });

  // Hono answers HEAD with the GET handler (body dropped): this is Ollama's HEAD /api/blobs/:digest.
  app.get('/api/blobs/:digest', (c) => {
    const d = parseDigest(c.req.param('digest'));
    return c.body(null, store.blobs.has(d) ? 200 : 404);
  });
  app.post('/api/blobs/:digest', async (c) => {
    const d = parseDigest(c.req.param('digest'));
    if (store.blobs.has(d)) {
      await c.req.raw.body?.cancel().catch(() => {});
      return c.body(null, 200);
    }
    const body = c.req.raw.body;
    if (!body) throw new KilnError('E_BAD_REQUEST', 'missing blob body');
    await store.blobs.writeStream(body as unknown as AsyncIterable<Uint8Array>, d, { signal: c.req.raw.signal });
    return c.body(null, 201);
  });

  app.post('/api/create', async (c) => {
    const req = await json(c, parse.parseCreate);
    requestName(req);
    return progressResponse<ProgressResponse>(c, req.stream !== false, (emit, signal) => createModel(store, req, emit, signal));
  });

  app.post('/api/pull', async (c) => {
    const req = await json(c, parse.parsePull);
    const model = requestName(req);
    return progressResponse<ProgressResponse>(c, req.stream !== false, (emit, signal) =>
      pullModel(registryContext(deps), model, { insecure: req.insecure === true, signal }, countPullBytes(emit)).then(
        () => metrics.pulls.inc({ result: 'success' }),
        (e: unknown) => {
          metrics.pulls.inc({ result: isKilnError(e, 'E_CANCELLED') ? 'cancelled' : 'failure' });
          throw e;
        },
      ),
    );
  });
  app.post('/api/push', async (c) => {
    const req = await json(c, parse.parsePush);
    const model = requestName(req);
    return progressResponse<ProgressResponse>(c, req.stream !== false, (emit, signal) =>
      pushModel(registryContext(deps), model, { insecure: req.insecure === true, signal, checkLayer: checkPushLayer }, emit),
    );
  });

  app.post('/api/export', async (c) => exportResponse(store, requestName(await json(c, parse.parseExport))));
  app.post('/api/import', (c) => {
    const q = c.req.query() as ImportQuery;
    return progressResponse<ProgressResponse>(c, q.stream !== 'false', (emit, signal) => importRequest(store, c.req.raw.body, q.model, emit, signal));
  });
  app.post('/api/import-ollama', async (c) => {
    const req = await json(c, parse.parseImportOllama);
    return progressResponse<ProgressResponse>(c, req.stream !== false, async (emit, signal) => {
      await importOllama(registryContext(deps), typeof req.path === 'string' && req.path ? req.path : config.ollamaModels, emit, signal);
    });
  });
  app.post('/api/verify', async (c) => {
    const req = c.req.header('content-length') === '0' || !c.req.raw.body ? {} : await json(c, parse.parseVerify);
    return progressResponse<VerifyProgress>(c, req.stream !== false, (emit, signal) => verifyStore(registryContext(deps), emit, signal));
  });
  app.post('/api/prune', (c) => c.json<PruneResponse>(pruneStore(registryContext(deps))));

  app.notFound((c) => {
    const msg = `${c.req.method} ${c.req.path}: not found`;
    return c.json(errorFor(c.req.path, new KilnError('E_NOT_FOUND', msg)).body, 404);
  });
  app.onError((e, c) => {
    const { status, body } = errorFor(c.req.path, e);
    if (status >= 500) deps.log(`error: ${c.req.method} ${c.req.path}: ${(e as Error).stack ?? e}`);
    return c.json(body, status as 500);
  });
  return app;
}
