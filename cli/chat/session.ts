import type { ChatRequest, ChatResponse, CreateRequest, Message, Options, ThinkValue } from '../../daemon/api/types.js';

/** What a chat session needs from the daemon (the CLI's client in use, fakes in tests). */
export interface SessionBackend {
  chat(req: ChatRequest, signal: AbortSignal): AsyncIterable<ChatResponse>;
  /** /show: the formatted part of `kiln show` ('info' for the summary). */
  show(model: string, part: 'info' | 'template' | 'parameters' | 'system' | 'license' | 'modelfile'): Promise<string>;
  /** Loads a model (a generate with no prompt); fails if it does not exist. */
  load(model: string): Promise<void>;
  create(req: CreateRequest): Promise<void>;
}

export type CommandResult = { output: string; exit?: boolean };

export const HELP = `Available Commands:
  /set            Set session variables
  /show           Show model information
  /load <model>   Load a session or model
  /save <model>   Save your current session
  /clear          Clear session context
  /bye            Exit
  /?, /help       Help for a command
  /? shortcuts    Help for keyboard shortcuts

Use """ to begin a multi-line message.`;

const SET_HELP = `Available Commands:
  /set parameter ...     Set a parameter
  /set system <string>   Set system message
  /set format json       Enable JSON mode
  /set noformat          Disable formatting
  /set verbose           Show LLM stats
  /set quiet             Disable LLM stats
  /set think             Enable thinking
  /set think <level>     Think at a level (low, medium, high)
  /set nothink           Disable thinking`;

const PARAM_HELP = `Available Parameters:
  /set parameter seed <int>             Random number seed
  /set parameter num_predict <int>      Max number of tokens to predict
  /set parameter top_k <int>            Pick from top k num of tokens
  /set parameter top_p <float>          Pick token based on sum of probabilities
  /set parameter min_p <float>          Pick token based on top token probability * min_p
  /set parameter num_ctx <int>          Set the context size
  /set parameter temperature <float>    Set creativity level
  /set parameter repeat_penalty <float> How strongly to penalize repetitions
  /set parameter repeat_last_n <int>    Set how far back to look for repetitions
  /set parameter stop <string> <string> ...   Set the stop parameters`;

const SHOW_HELP = `Available Commands:
  /show info         Show details for this model
  /show license      Show model license
  /show modelfile    Show Modelfile for this model
  /show parameters   Show parameters for this model
  /show system       Show system message
  /show template     Show prompt template`;

export const SHORTCUTS = `Available keyboard shortcuts:
  Ctrl + a            Move to the beginning of the line (Home)
  Ctrl + e            Move to the end of the line (End)
  Ctrl + u            Delete the line
  Ctrl + w            Delete the word before the cursor
  Ctrl + c            Stop the model from responding
  Ctrl + d            Exit kiln (/bye)
  Up / Down           Browse the input history`;

/** A parameter value as typed: numbers and booleans become such, the rest stays text. */
export function parseParamValue(v: string): number | boolean | string {
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(v)) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  return v;
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")))) return t.slice(1, -1);
  return t;
}

function parameterLines(key: string, value: unknown): string[] {
  return (Array.isArray(value) ? value : [value]).map((v) => `${key.padEnd(30)} ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
}

/**
 * `/show parameters`: the model's parameters (`key value` lines, as `kiln show
 * --parameters` prints them) with the session's `/set parameter` values in
 * place of the model's for the same key, and the session's other ones after.
 */
export function mergeParameters(modelText: string, options: Options): string {
  const out: string[] = [];
  const done = new Set<string>();
  for (const line of modelText.split('\n')) {
    if (!line.trim()) continue;
    const key = line.trim().split(/\s+/)[0];
    if (!(key in options)) out.push(line);
    else if (!done.has(key)) {
      done.add(key);
      out.push(...parameterLines(key, options[key]));
    }
  }
  for (const [key, value] of Object.entries(options)) if (!done.has(key)) out.push(...parameterLines(key, value));
  return out.join('\n');
}

/** How Ollama's CLI frames a model's reasoning (shown dimmed). */
export const THINKING_OPEN = 'Thinking...\n';
export const THINKING_CLOSE = '...done thinking.\n\n';

/** A piece of an answer as shown: reasoning (and its framing) is dimmed. */
export interface Segment {
  text: string;
  dim: boolean;
}

const THINK_VALUES = ['true', 'false', 'high', 'medium', 'low'];

/** `--think` / `/set think` values as typed: true/false or a level; undefined if not one of them. */
export function parseThinkValue(v: string): ThinkValue | undefined {
  if (!THINK_VALUES.includes(v)) return undefined;
  return v === 'true' ? true : v === 'false' ? false : (v as ThinkValue);
}

/** The final statistics as `--verbose` prints them (Ollama's layout). */
export function formatStats(r: ChatResponse): string {
  const rate = (n = 0, ns = 0) => (ns > 0 ? `${((n * 1e9) / ns).toFixed(2)} tokens/s` : 'n/a');
  const rows: [string, string][] = [
    ['total duration:', goDuration(r.total_duration ?? 0)],
    ['load duration:', goDuration(r.load_duration ?? 0)],
    ['prompt eval count:', `${r.prompt_eval_count ?? 0} token(s)`],
    ['prompt eval duration:', goDuration(r.prompt_eval_duration ?? 0)],
    ['prompt eval rate:', rate(r.prompt_eval_count, r.prompt_eval_duration)],
    ['eval count:', `${r.eval_count ?? 0} token(s)`],
    ['eval duration:', goDuration(r.eval_duration ?? 0)],
    ['eval rate:', rate(r.eval_count, r.eval_duration)],
  ];
  return rows.map(([k, v]) => k.padEnd(22) + v).join('\n');
}

/** A nanosecond count the way Go's time.Duration prints it: "1.5s", "61.235ms", "812µs", "2m3.5s". */
export function goDuration(ns: number): string {
  const trim = (x: number, digits: number) => x.toFixed(digits).replace(/\.?0+$/, '');
  if (ns < 1000) return `${Math.round(ns)}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3, 3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6, 6)}ms`;
  const s = ns / 1e9;
  if (s < 60) return `${trim(s, 9)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${trim(s - m * 60, 9)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m${trim(s - m * 60, 9)}s`;
}

/**
 * One `kiln run` conversation: the messages so far, the session's system
 * message and options, and the slash commands that change them. The view
 * (Ink, or plain output for one-shot use) only reads lines and prints.
 */
export class ChatSession {
  messages: Message[] = [];
  system?: string;
  options: Options = {};
  format?: string;
  verbose: boolean;
  /** --keepalive: sent with every request. */
  keepAlive?: string;
  /** --think, /set think, /set nothink; unset leaves it to the daemon (a thinking model thinks). */
  think?: ThinkValue;
  /** --hidethinking: the reasoning is not shown (it is still kept in the conversation). */
  hideThinking: boolean;

  constructor(
    private readonly backend: SessionBackend,
    public model: string,
    opts: { verbose?: boolean; format?: string; keepAlive?: string; think?: ThinkValue; hideThinking?: boolean } = {},
  ) {
    this.verbose = opts.verbose ?? false;
    this.format = opts.format;
    this.keepAlive = opts.keepAlive;
    this.think = opts.think;
    this.hideThinking = opts.hideThinking ?? false;
  }

  /** Runs a slash command. */
  async command(line: string): Promise<CommandResult> {
    const [cmd, ...args] = line.trim().split(/\s+/);
    switch (cmd) {
      case '/bye':
      case '/exit':
        return { output: '', exit: true };
      case '/?':
      case '/help':
        if (args[0] === 'shortcuts' || args[0] === 'shortcut') return { output: SHORTCUTS };
        if (args[0] === 'set' || args[0] === '/set') return { output: SET_HELP };
        if (args[0] === 'show' || args[0] === '/show') return { output: SHOW_HELP };
        return { output: HELP };
      case '/clear':
        this.messages = [];
        return { output: 'Cleared session context' };
      case '/set':
        return this.set(line.trim().slice(4).trim());
      case '/show':
        return this.show(args[0]);
      case '/load': {
        if (!args[0]) return { output: 'Usage:\n  /load <modelname>' };
        await this.backend.load(args[0]);
        this.model = args[0];
        this.messages = [];
        return { output: `Loading model '${args[0]}'` };
      }
      case '/save': {
        if (!args[0]) return { output: 'Usage:\n  /save <modelname>' };
        await this.backend.create({
          model: args[0],
          from: this.model,
          ...(this.system !== undefined ? { system: this.system } : {}),
          ...(Object.keys(this.options).length ? { parameters: this.options } : {}),
          ...(this.messages.length ? { messages: this.messages } : {}),
        });
        return { output: `Created new model '${args[0]}'` };
      }
      default:
        return { output: `Unknown command '${cmd}'. Type /? for help` };
    }
  }

  private set(rest: string): CommandResult {
    const [what, ...args] = rest.split(/\s+/).filter(Boolean);
    switch (what) {
      case 'parameter': {
        const [key, ...values] = args;
        if (!key || values.length === 0) return { output: PARAM_HELP };
        if (key === 'stop') {
          this.options.stop = values.map(unquote);
          return { output: `Set parameter 'stop' to '${this.options.stop.join(', ')}'` };
        }
        this.options[key] = parseParamValue(values.join(' '));
        return { output: `Set parameter '${key}' to '${values.join(' ')}'` };
      }
      case 'system': {
        const text = unquote(rest.slice('system'.length));
        if (!text) return { output: 'Usage:\n  /set system <string>' };
        this.system = text;
        return { output: 'Set system message.' };
      }
      case 'format':
        if (args[0] !== 'json') return { output: 'Invalid or missing format. For \'json\' mode use \'/set format json\'' };
        this.format = 'json';
        return { output: 'Set format to \'json\' mode.' };
      case 'noformat':
        this.format = undefined;
        return { output: 'Disabled format.' };
      case 'verbose':
        this.verbose = true;
        return { output: 'Set \'verbose\' mode.' };
      case 'quiet':
        this.verbose = false;
        return { output: 'Set \'quiet\' mode.' };
      case 'think': {
        if (args[0] === undefined) {
          this.think = true;
          return { output: 'Set \'think\' mode.' };
        }
        const level = parseThinkValue(args[0]);
        if (level === undefined || typeof level === 'boolean') return { output: `Invalid think level '${args[0]}': use low, medium or high` };
        this.think = level;
        return { output: `Set 'think' mode to '${level}'.` };
      }
      case 'nothink':
        this.think = false;
        return { output: 'Set \'nothink\' mode.' };
      default:
        return { output: SET_HELP };
    }
  }

  private async show(part: string | undefined): Promise<CommandResult> {
    switch (part) {
      case 'parameters': {
        const merged = mergeParameters(await this.backend.show(this.model, 'parameters'), this.options);
        return { output: merged || 'No parameters were specified for this model.' };
      }
      case 'info':
      case 'license':
      case 'modelfile':
      case 'template':
        return { output: (await this.backend.show(this.model, part)) || `No ${part} was specified for this model.` };
      case 'system':
        if (this.system !== undefined) return { output: this.system };
        return { output: (await this.backend.show(this.model, 'system')) || 'No system message was specified for this model.' };
      default:
        return { output: SHOW_HELP };
    }
  }

  /** The request for the next answer to `text`. */
  request(text: string): ChatRequest {
    const messages: Message[] = [...(this.system !== undefined ? [{ role: 'system', content: this.system }] : []), ...this.messages, { role: 'user', content: text }];
    return {
      model: this.model,
      messages,
      stream: true,
      ...(this.format ? { format: this.format } : {}),
      ...(Object.keys(this.options).length ? { options: this.options } : {}),
      ...(this.keepAlive !== undefined ? { keep_alive: this.keepAlive } : {}),
      ...(this.think !== undefined ? { think: this.think } : {}),
    };
  }

  /**
   * Streams the answer to `text` as segments to show: a model's reasoning
   * dimmed, between "Thinking..." and "...done thinking." as Ollama's CLI
   * frames it (none of it with --hidethinking), then the content. A finished
   * answer joins the conversation, reasoning included; a stopped one (signal
   * aborted) is dropped with its question, as Ollama does. Returns the final
   * response (for the stats), or undefined when stopped.
   */
  async *answer(text: string, signal: AbortSignal): AsyncGenerator<Segment, ChatResponse | undefined> {
    let content = '';
    let thinking = '';
    /** The reasoning frame is open; `shown` is what it has shown so far. */
    let open = false;
    let shown = '';
    let final: ChatResponse | undefined;
    const close = function* (): Generator<Segment> {
      if (!open) return;
      open = false;
      yield { text: (shown.endsWith('\n') ? '' : '\n') + THINKING_CLOSE, dim: true };
    };
    try {
      for await (const r of this.backend.chat(this.request(text), signal)) {
        const t = r.message?.thinking;
        if (t) {
          if (!this.hideThinking) {
            if (!open) {
              open = true;
              shown = '';
              yield { text: THINKING_OPEN, dim: true };
            }
            shown += t;
            yield { text: t, dim: true };
          }
          thinking += t;
        }
        if (r.message?.content || r.message?.tool_calls?.length || r.done) yield* close();
        if (r.message?.content) {
          content += r.message.content;
          yield { text: r.message.content, dim: false };
        }
        if (r.done) final = r;
      }
    } catch (e) {
      if (signal.aborted) return undefined;
      throw e;
    }
    if (signal.aborted || !final) return undefined;
    this.messages.push({ role: 'user', content: text }, { role: 'assistant', content, ...(thinking ? { thinking } : {}) });
    return final;
  }
}
