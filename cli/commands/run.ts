import { join } from 'node:path';
import React from 'react';
import { render } from 'ink';
import type { ChatRequest, ChatResponse, CreateRequest, GenerateResponse, ProgressResponse, PsResponse, ShowResponse, ThinkValue } from '../../daemon/api/types.js';
import type { Config } from '../../daemon/config.js';
import { KilnError } from '../../common/errors.js';
import { ApiError, type Client } from '../client.js';
import { History } from '../chat/input.js';
import { ChatSession, formatStats, parseThinkValue, type SessionBackend } from '../chat/session.js';
import { UsageError } from '../args.js';
import { ChatApp } from '../ui/chat.js';
import { parseModelName } from '../../common/model-name.js';
import { pullCommand } from './registry.js';
import { showCommand } from './models.js';
import { onStdoutClosed, stdoutClosed } from '../stdout.js';

export interface RunFlags {
  verbose: boolean;
  format?: string;
  keepAlive?: string;
  insecure: boolean;
  /** --think[=LEVEL] as typed ("true" for a bare --think); absent leaves it to the daemon. */
  think?: string;
  hideThinking?: boolean;
}

/** Dim text (a model's reasoning) on a terminal, or where FORCE_COLOR asks for it; never with NO_COLOR. */
export function dimmer(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): (text: string) => string {
  const force = env.FORCE_COLOR;
  const color = env.NO_COLOR ? false : force !== undefined ? force !== '0' && force !== 'false' : stream.isTTY === true;
  return color ? (t) => `\x1b[2m${t}\x1b[22m` : (t) => t;
}

function backendFor(client: Client): SessionBackend {
  return {
    chat: (req: ChatRequest, signal: AbortSignal) => client.stream<ChatResponse>('/api/chat', req, undefined, signal),
    show: (model, part) => showCommand(client, model, part === 'info' ? undefined : part),
    load: async (model) => {
      await client.json<GenerateResponse>('POST', '/api/generate', { model, stream: false });
    },
    create: async (req: CreateRequest) => {
      for await (const p of client.stream<ProgressResponse>('/api/create', { ...req, stream: true })) void p;
    },
  };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Why pulling `name` failed, for a user who only asked to run it. The daemon
 * has already put network failures into words (cannot reach the registry,
 * plain http without --insecure, refused credentials); a tag the registry does
 * not have comes back in Ollama's wording, which is said plainly here.
 */
export function pullFailure(name: string, message: string): string {
  let why = message;
  if (/pull model manifest: file does not exist/.test(message)) {
    let host = 'the registry';
    try {
      host = `the registry ${parseModelName(name).host}`;
    } catch {
      /* an odd name: the daemon said what was wrong with it */
    }
    why = `${host} has no such model`;
  }
  return `model '${name}' is not on this machine, and pulling it failed: ${why}`;
}

/** Makes sure the model is here: pulls it (with the progress bars) when the store does not have it. */
async function ensureModel(client: Client, name: string, insecure: boolean): Promise<void> {
  try {
    rejectEmbeddingOnly(name, await client.json<ShowResponse>('POST', '/api/show', { model: name }));
    return;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
  }
  try {
    if (process.stderr.isTTY) await pullCommand(client, name, insecure, { showError: false });
    else for await (const p of client.stream<ProgressResponse>('/api/pull', { model: name, insecure, stream: true })) void p;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    throw new KilnError('E_MODEL_NOT_FOUND', pullFailure(name, e.message));
  }
  rejectEmbeddingOnly(name, await client.json<ShowResponse>('POST', '/api/show', { model: name }));
}

/** An embedding model cannot chat: say so before anything loads. */
function rejectEmbeddingOnly(name: string, show: ShowResponse): void {
  const caps = show.capabilities ?? [];
  if (caps.includes('embedding') && !caps.includes('completion')) {
    throw new KilnError('E_BAD_REQUEST', `'${name}' is an embedding model: it turns text into vectors and does not generate text (use /api/embed or /v1/embeddings)`);
  }
}

/**
 * `kiln run NAME [PROMPT...]`. With a prompt argument or piped stdin (stdin
 * first, then the arguments, joined by a space) it prints one answer to
 * stdout and exits, with no UI around it, so it composes in pipelines;
 * `--verbose` stats go to stderr. Otherwise an interactive Ink chat.
 */
export async function runCommand(client: Client, config: Config, name: string, promptArgs: string[], flags: RunFlags): Promise<number> {
  let think: ThinkValue | undefined;
  if (flags.think !== undefined) {
    think = parseThinkValue(flags.think);
    if (think === undefined) throw new UsageError(`invalid value for --think: "${flags.think}" (must be true, false, high, medium, or low)`);
  }
  await ensureModel(client, name, flags.insecure);
  const backend = backendFor(client);
  const session = new ChatSession(backend, name, { verbose: flags.verbose, format: flags.format, keepAlive: flags.keepAlive, think, hideThinking: flags.hideThinking });
  const parts = [...promptArgs];
  const piped = !process.stdin.isTTY;
  if (piped) parts.unshift(await readStdin());
  if (parts.length > 0 || piped) {
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    // The reader went away (`| head -c 100`): the answer is cancelled and the command ends quietly.
    const unhook = onStdoutClosed(() => ac.abort());
    const dim = dimmer(process.stdout);
    try {
      const g = session.answer(parts.join(' '), ac.signal);
      for (;;) {
        const r = await g.next();
        if (stdoutClosed()) return 0;
        if (r.done) {
          process.stdout.write('\n');
          if (r.value && flags.verbose) process.stderr.write(`${formatStats(r.value)}\n`);
          return ac.signal.aborted ? 130 : 0;
        }
        process.stdout.write(r.value.dim ? dim(r.value.text) : r.value.text);
      }
    } finally {
      unhook();
    }
  }
  await backend.load(name);
  const app = render(React.createElement(ChatApp, { session, history: new History(join(config.home, 'history')) }), { exitOnCtrlC: false });
  await app.waitUntilExit();
  return 0;
}

/** `kiln stop NAME`: unloads a running model (keep_alive 0); an error if it is not running. */
export async function stopCommand(client: Client, name: string): Promise<void> {
  const { models } = await client.json<PsResponse>('GET', '/api/ps');
  const want = name.includes(':') ? name.toLowerCase() : `${name.toLowerCase()}:latest`;
  if (!models.some((m) => m.name.toLowerCase() === want || m.model.toLowerCase() === want)) {
    throw new KilnError('E_NOT_FOUND', `couldn't find model "${name}" to stop`);
  }
  await client.json<GenerateResponse>('POST', '/api/generate', { model: name, keep_alive: 0, stream: false });
}

