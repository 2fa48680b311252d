/**
 * Every `kiln` command, once: its name and aliases, the summary the command
 * list shows, its help (usage line, notes, flags) and the handler. The top
 * usage, `kiln help CMD`, flag checking and dispatch are all made from here.
 */
import { KilnError } from '../common/errors.js';
import { UsageError } from './args.js';
import { settingsHelp, type Config } from '../daemon/config.js';
import type { Client } from './client.js';
import type { ShowPart } from './commands/models.js';

export interface Flag {
  name: string;
  /** One-letter spelling (`-f`). */
  short?: string;
  /** The kind of value it takes (`string`, `int`); a flag without one is a switch. */
  value?: 'string' | 'int';
  /** A switch that may also be given a value with `=` (`--think`, `--think=high`); shown as `[=value]`. */
  optionalValue?: string;
  help: string;
}

export interface Context {
  args: string[];
  flags: Map<string, string | true>;
  config: Config;
  /** The daemon client, made on first use and closed when the command ends. */
  client(): Client;
}

export interface Command {
  name: string;
  aliases?: string[];
  /** One line, as the command list shows it. */
  summary: string;
  /** The first line of the command's help, when it says more than the summary. */
  description?: string;
  /** `kiln create MODEL [flags]` */
  usage: string;
  /** Text between the usage line and the flags. */
  notes?: string;
  flags?: Flag[];
  minArgs?: number;
  /** Left out of the command list (`version`). */
  hidden?: boolean;
  run(ctx: Context): Promise<number | void>;
}

/** A flag's value under either spelling. */
export function flagValue(ctx: Context, f: string, short?: string): string | undefined {
  const v = ctx.flags.get(f) ?? (short ? ctx.flags.get(short) : undefined);
  return typeof v === 'string' ? v : undefined;
}

const print = (s: string) => console.log(s);

/** engine/quantize/ladder.ts's DEFAULT_LADDER, spelled here so the help does not load the engine. */
const DEFAULT_LADDER_TEXT = 'q2_K,q3_K_M,iq4_xs,q4_0,q4_K_M,q5_K_M,q6_K,q8_0';

export const COMMANDS: Command[] = [
  {
    name: 'serve',
    summary: 'Start the kiln daemon',
    usage: 'kiln serve',
    notes: `Environment Variables:\n${settingsHelp()}`,
    async run(ctx) {
      const { serve } = await import('./commands/serve.js');
      return serve(ctx.config);
    },
  },
  {
    name: 'run',
    summary: 'Run a model',
    usage: 'kiln run MODEL [PROMPT] [flags]',
    notes: 'With a PROMPT or piped stdin, prints one answer and exits; otherwise an interactive chat (/? for help).',
    flags: [
      { name: 'format', value: 'string', help: 'Response format (e.g. json)' },
      { name: 'keepalive', value: 'string', help: 'Duration to keep a model loaded (e.g. 5m)' },
      { name: 'verbose', help: 'Show timings for response' },
      { name: 'insecure', help: 'Use an insecure registry when pulling' },
      { name: 'think', optionalValue: 'level', help: 'Enable thinking mode: true/false or high, medium, low (thinking models think by default)' },
      { name: 'hidethinking', help: 'Hide the thinking output (if provided)' },
    ],
    minArgs: 1,
    async run(ctx) {
      const { runCommand } = await import('./commands/run.js');
      const think = ctx.flags.get('think');
      return runCommand(ctx.client(), ctx.config, ctx.args[0], ctx.args.slice(1), {
        verbose: ctx.flags.has('verbose'),
        format: flagValue(ctx, 'format'),
        keepAlive: flagValue(ctx, 'keepalive'),
        insecure: ctx.flags.has('insecure'),
        think: think === undefined ? undefined : think === true ? 'true' : think,
        hideThinking: ctx.flags.has('hidethinking'),
      });
    },
  },
  {
    name: 'stop',
    summary: 'Stop a running model',
    usage: 'kiln stop MODEL',
    minArgs: 1,
    async run(ctx) {
      const { stopCommand } = await import('./commands/run.js');
      await stopCommand(ctx.client(), ctx.args[0]);
    },
  },
  {
    name: 'create',
    summary: 'Create a model from a Modelfile',
    usage: 'kiln create MODEL [-f Modelfile] [--quantize TYPE [--imatrix FILE] [--report]]',
    flags: [
      { name: 'file', short: 'f', value: 'string', help: 'Name of the Modelfile (default "Modelfile")' },
      { name: 'quantize', short: 'q', value: 'string', help: 'Quantize model to this level (e.g. q4_K_M)' },
      { name: 'report', help: 'Measure the quantized model against the source and save the report (kiln show MODEL --quality)' },
      { name: 'text', value: 'string', help: 'Text file the report measures over (default: a built-in English sample)' },
      { name: 'imatrix', value: 'string', help: 'Importance matrix for the quantization (from kiln imatrix or llama.cpp)' },
    ],
    minArgs: 1,
    async run(ctx) {
      const { createCommand } = await import('./commands/create.js');
      const quantize = flagValue(ctx, 'quantize', 'q');
      if (ctx.flags.has('report') && !quantize) throw new UsageError('--report needs --quantize TYPE');
      if (ctx.flags.has('text') && !ctx.flags.has('report')) throw new UsageError('--text goes with --report');
      const report = ctx.flags.has('report') ? { text: flagValue(ctx, 'text') } : undefined;
      await createCommand(ctx.client(), ctx.args[0], flagValue(ctx, 'file', 'f') ?? 'Modelfile', quantize, report, flagValue(ctx, 'imatrix'));
    },
  },
  {
    name: 'quantize',
    summary: 'Quantize a GGUF file (q4_K_M, q8_0, …)',
    description: 'Quantize a GGUF file to another type, or measure what each type costs (runs locally, no daemon needed)',
    usage: 'kiln quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [--report]\n  kiln quantize IN.gguf --ladder[=TYPES] [--text FILE] [--keep DIR]',
    notes:
      'Types:\n  q2_K q3_K_S q3_K_M q3_K_L q4_0 q4_1 q5_0 q5_1 q4_K_S q4_K_M q5_K_S q5_K_M q6_K q8_0 f16 bf16 f32\n\n' +
      `--ladder quantizes IN to each of TYPES (a comma list, after = or as the next word; default ${DEFAULT_LADDER_TEXT})\n` +
      'and measures each against IN over the text: size, bits per weight, mean KL divergence from IN, how often\n' +
      'the most likely next token is the same, perplexity and generation speed. The quantized files are deleted\n' +
      'unless --keep names a folder for them. --report measures OUT the same way after quantizing.',
    flags: [
      { name: 'ladder', optionalValue: 'types', help: 'Quantize to each type and print the quality table' },
      { name: 'report', help: 'After quantizing, measure OUT against IN and print its quality' },
      { name: 'imatrix', value: 'string', help: 'Importance matrix (from kiln imatrix or llama.cpp) weighting the quantization error' },
      { name: 'text', value: 'string', help: 'Text file to measure over (default: a built-in English sample)' },
      { name: 'ctx', value: 'int', help: "Window size in tokens (default 512, or the model's context if shorter)" },
      { name: 'keep', value: 'string', help: 'Folder to keep the ladder\'s quantized files in' },
      { name: 'json', help: 'progress as NDJSON on stdout' },
    ],
    minArgs: 1,
    async run(ctx) {
      const { ladderCommand, quantizeCommand } = await import('./commands/quantize.js');
      const quality = { text: flagValue(ctx, 'text'), ctx: flagValue(ctx, 'ctx'), json: ctx.flags.has('json') };
      const ladder = ctx.flags.get('ladder');
      if (ladder !== undefined) {
        if (ctx.args.length > 2) throw new UsageError('--ladder takes IN.gguf and the types only (no OUT: the files are measured, not kept, unless --keep DIR)');
        if (ctx.flags.has('report')) throw new UsageError('--ladder and --report do not go together');
        return ladderCommand(ctx.args[0], typeof ladder === 'string' ? ladder : ctx.args[1], { ...quality, keep: flagValue(ctx, 'keep') });
      }
      if (ctx.args.length < 3) throw new UsageError('"kiln quantize" requires 3 arguments (IN.gguf OUT.gguf TYPE), or IN.gguf --ladder');
      for (const f of ['text', 'ctx'] as const) {
        if (ctx.flags.has(f) && !ctx.flags.has('report')) throw new UsageError(`--${f} goes with --ladder or --report`);
      }
      if (ctx.flags.has('keep')) throw new UsageError('--keep goes with --ladder');
      await quantizeCommand(ctx.args[0], ctx.args[1], ctx.args[2], ctx.flags.has('json'), ctx.flags.has('report') ? quality : undefined, flagValue(ctx, 'imatrix'));
    },
  },
  {
    name: 'imatrix',
    summary: 'Compute an importance matrix for quantization',
    description: 'Run a model over a calibration text and record the importance of each weight column (runs locally)',
    usage: 'kiln imatrix MODEL TEXT.txt -o FILE.gguf [flags]',
    notes: "MODEL is a GGUF file or a model name from the local store. The file is in llama.cpp's imatrix GGUF format.",
    flags: [
      { name: 'output', short: 'o', value: 'string', help: 'The imatrix file to write' },
      { name: 'chunk', value: 'int', help: "Tokens per chunk (default 512, or the model's context if shorter)" },
    ],
    minArgs: 2,
    async run(ctx) {
      const { imatrixCommand } = await import('./commands/imatrix.js');
      await imatrixCommand(ctx.config, ctx.args[0], ctx.args[1], flagValue(ctx, 'output', 'o'), flagValue(ctx, 'chunk'));
    },
  },
  {
    name: 'perplexity',
    summary: 'Perplexity of a model over a text file',
    description: 'Perplexity of a model over a text file (runs locally, no daemon needed)',
    usage: 'kiln perplexity MODEL FILE.txt [flags]',
    notes:
      'MODEL is a GGUF file or a model name from the local store. The text is cut into windows of --ctx tokens,\neach evaluated from an empty cache after BOS, every token scored.',
    flags: [
      { name: 'ctx', value: 'int', help: "Window size in tokens (default 512, or the model's context if shorter)" },
      { name: 'json', help: 'Result as JSON on stdout' },
    ],
    minArgs: 2,
    async run(ctx) {
      const { perplexityCommand } = await import('./commands/eval.js');
      await perplexityCommand(ctx.config, ctx.args[0], ctx.args[1], { ctx: flagValue(ctx, 'ctx'), json: ctx.flags.has('json') });
    },
  },
  {
    name: 'kl',
    summary: "KL divergence of one model's predictions from another's",
    description: "KL divergence of OTHER's next-token distributions from BASE's over a text file (runs locally)",
    usage: 'kiln kl BASE OTHER FILE.txt [flags]',
    flags: [
      { name: 'ctx', value: 'int', help: "Window size in tokens (default 512, or the models' context if shorter)" },
      { name: 'json', help: 'Result as JSON on stdout' },
    ],
    minArgs: 3,
    async run(ctx) {
      const { klCommand } = await import('./commands/eval.js');
      await klCommand(ctx.config, ctx.args[0], ctx.args[1], ctx.args[2], { ctx: flagValue(ctx, 'ctx'), json: ctx.flags.has('json') });
    },
  },
  {
    name: 'pull',
    summary: 'Pull a model from a registry',
    usage: 'kiln pull MODEL [flags]',
    flags: [{ name: 'insecure', help: 'Use an insecure registry (plain http)' }],
    minArgs: 1,
    async run(ctx) {
      const { pullCommand } = await import('./commands/registry.js');
      await pullCommand(ctx.client(), ctx.args[0], ctx.flags.has('insecure'));
    },
  },
  {
    name: 'push',
    summary: 'Push a model to a registry',
    usage: 'kiln push MODEL [flags]',
    flags: [{ name: 'insecure', help: 'Use an insecure registry (plain http)' }],
    minArgs: 1,
    async run(ctx) {
      const { pushCommand } = await import('./commands/registry.js');
      await pushCommand(ctx.client(), ctx.args[0], ctx.flags.has('insecure'));
    },
  },
  {
    name: 'export',
    summary: 'Write a model to an OCI image-layout tar',
    description: 'Write a model to an OCI image-layout tar (for machines without a registry)',
    usage: 'kiln export MODEL -o FILE.tar',
    flags: [{ name: 'output', short: 'o', value: 'string', help: 'The archive to write' }],
    minArgs: 1,
    async run(ctx) {
      const out = flagValue(ctx, 'output', 'o');
      if (!out) throw new KilnError('E_BAD_REQUEST', 'kiln export needs -o FILE');
      const { exportCommand } = await import('./commands/archive.js');
      print(await exportCommand(ctx.client(), ctx.args[0], out));
    },
  },
  {
    name: 'import',
    summary: 'Read a model from an OCI image-layout tar',
    description: 'Read a model from an OCI image-layout tar; every digest is checked',
    usage: 'kiln import FILE.tar [MODEL]',
    notes: 'MODEL overrides the name stored in the archive.',
    minArgs: 1,
    async run(ctx) {
      const { importCommand } = await import('./commands/archive.js');
      await importCommand(ctx.client(), ctx.args[0], ctx.args[1]);
    },
  },
  {
    name: 'import-ollama',
    summary: 'Adopt the models of an Ollama store',
    description: 'Adopt the models of an Ollama store without downloading them (hard links where possible)',
    usage: 'kiln import-ollama [DIR]',
    notes: 'DIR defaults to ~/.ollama/models (or $OLLAMA_MODELS of the daemon).',
    async run(ctx) {
      const { importOllamaCommand } = await import('./commands/archive.js');
      await importOllamaCommand(ctx.client(), ctx.args[0]);
    },
  },
  {
    name: 'verify',
    summary: 'Re-hash every blob and quarantine damaged ones',
    description: 'Re-hash every blob; damaged ones are moved to $KILN_MODELS/quarantine',
    usage: 'kiln verify',
    async run(ctx) {
      const { verifyCommand } = await import('./commands/archive.js');
      const r = await verifyCommand(ctx.client());
      print(r.text);
      return r.ok ? 0 : 1;
    },
  },
  {
    name: 'prune',
    summary: 'Remove blobs no model uses and stale partial downloads',
    description: 'Remove blobs that no model uses and partial downloads that are not running',
    usage: 'kiln prune',
    async run(ctx) {
      const { pruneCommand } = await import('./commands/archive.js');
      print(await pruneCommand(ctx.client()));
    },
  },
  {
    name: 'show',
    summary: 'Show information for a model',
    usage: 'kiln show MODEL [flags]',
    flags: [
      { name: 'license', help: 'Show license of a model' },
      { name: 'modelfile', help: 'Show Modelfile of a model' },
      { name: 'parameters', help: 'Show parameters of a model' },
      { name: 'system', help: 'Show system message of a model' },
      { name: 'template', help: 'Show template of a model' },
      { name: 'quality', help: 'Show the quality report saved by kiln create --quantize TYPE --report' },
      { name: 'fit', help: 'Show the memory plan before loading: RAM and VRAM, per layer, layers on the GPU' },
      { name: 'num-ctx', value: 'int', help: 'With --fit: the context length to plan for' },
      { name: 'num-parallel', value: 'int', help: 'With --fit: the slots to plan for' },
      { name: 'num-gpu', value: 'int', help: 'With --fit: layers on the GPU (default: as many as fit)' },
      { name: 'registry', help: "With --fit: also plan the registry's tags of the model (headers only, no download)" },
      { name: 'insecure', help: 'With --fit --registry: plain HTTP to the registry' },
      { name: 'json', help: 'With --fit: the plan as JSON (POST /api/fit)' },
    ],
    minArgs: 1,
    async run(ctx) {
      const { showCommand, showFitCommand, showQualityCommand } = await import('./commands/models.js');
      if (ctx.flags.has('quality')) return print(await showQualityCommand(ctx.client(), ctx.args[0]));
      if (ctx.flags.has('fit')) {
        const int = (f: string): number | undefined => {
          const v = flagValue(ctx, f);
          if (v === undefined) return undefined;
          if (!/^-?\d+$/.test(v)) throw new UsageError(`--${f} takes an integer, got '${v}'`);
          return Number(v);
        };
        const opts = {
          num_ctx: int('num-ctx'),
          num_parallel: int('num-parallel'),
          num_gpu: int('num-gpu'),
          ...(ctx.flags.has('registry') ? { registry: true } : {}),
          ...(ctx.flags.has('insecure') ? { insecure: true } : {}),
        };
        return print(await showFitCommand(ctx.client(), ctx.args[0], opts, ctx.flags.has('json')));
      }
      const part = (['modelfile', 'template', 'parameters', 'system', 'license'] as ShowPart[]).find((p) => ctx.flags.has(p));
      print(await showCommand(ctx.client(), ctx.args[0], part));
    },
  },
  {
    name: 'list',
    aliases: ['ls'],
    summary: 'List models',
    usage: 'kiln list [PREFIX]',
    async run(ctx) {
      const { listCommand } = await import('./commands/models.js');
      print(await listCommand(ctx.client(), ctx.args[0]));
    },
  },
  {
    name: 'ps',
    summary: 'List running models',
    usage: 'kiln ps',
    async run(ctx) {
      const { psCommand } = await import('./commands/models.js');
      print(await psCommand(ctx.client()));
    },
  },
  {
    name: 'cp',
    summary: 'Copy a model',
    usage: 'kiln cp SOURCE DESTINATION',
    minArgs: 2,
    async run(ctx) {
      const { cpCommand } = await import('./commands/models.js');
      print(await cpCommand(ctx.client(), ctx.args[0], ctx.args[1]));
    },
  },
  {
    name: 'rm',
    summary: 'Remove a model',
    usage: 'kiln rm MODEL [MODEL...]',
    minArgs: 1,
    async run(ctx) {
      const { rmCommand } = await import('./commands/models.js');
      const failed = await rmCommand(ctx.client(), ctx.args, print, (line) => process.stderr.write(`${line}\n`));
      return failed ? 1 : 0;
    },
  },
  {
    name: 'keys',
    summary: 'Create, list and revoke API keys',
    description: 'Create, list and revoke the API keys that the TCP API requires once one exists',
    usage: 'kiln keys create --scope inference|admin [--name NAME]\n  kiln keys list\n  kiln keys revoke ID|NAME',
    notes:
      'Once a key exists, every request to the TCP address needs "Authorization: Bearer KEY" (or "x-api-key: KEY").\n' +
      'Inference keys may generate, chat, embed, tokenize, list and show; admin keys may also pull, push, create, copy and delete.\n' +
      'The key is printed once and only its hash is stored. The CLI uses the unix socket, which needs no key;\n' +
      'with no daemon running, kiln keys works on the store directly.',
    flags: [
      { name: 'scope', value: 'string', help: 'What the key may do: inference or admin (create)' },
      { name: 'name', value: 'string', help: 'A label for the key (create)' },
    ],
    minArgs: 1,
    async run(ctx) {
      const { keysCreate, keysList, keysRevoke } = await import('./commands/keys.js');
      const [sub, arg] = ctx.args;
      if (sub === 'create') {
        const { key, note } = await keysCreate(ctx.client(), ctx.config, flagValue(ctx, 'scope'), flagValue(ctx, 'name'));
        print(key);
        process.stderr.write(`${note}\n`);
      } else if (sub === 'list' || sub === 'ls') print(await keysList(ctx.client(), ctx.config));
      else if (sub === 'revoke' && arg !== undefined) print(await keysRevoke(ctx.client(), ctx.config, arg));
      else throw new KilnError('E_BAD_REQUEST', sub === 'revoke' ? 'kiln keys revoke needs a key ID or NAME' : `unknown keys command "${sub}": use create, list or revoke`);
    },
  },
  {
    name: 'help',
    summary: 'Help about any command',
    usage: 'kiln help [command]',
    async run(ctx) {
      const c = ctx.args[0] === undefined ? undefined : findCommand(ctx.args[0]);
      print(c ? commandHelp(c) : topUsage());
    },
  },
  {
    name: 'version',
    summary: 'Show version information',
    usage: 'kiln version',
    hidden: true,
    async run() {
      const { versionCommand } = await import('./version.js');
      return versionCommand();
    },
  },
];

export function findCommand(word: string): Command | undefined {
  return COMMANDS.find((c) => c.name === word || c.aliases?.includes(word));
}

/** `kiln` with no command, `kiln help`: the command list. */
export function topUsage(): string {
  const rows = COMMANDS.filter((c) => !c.hidden).map((c) => `  ${c.name.length < 12 ? c.name.padEnd(12) : `${c.name}  `}${c.summary}`);
  return `Usage:
  kiln [command]

Available Commands:
${rows.join('\n')}

Flags:
  -h, --help      help for kiln
  -v, --version   Show version information

Use "kiln [command] --help" for more information about a command.`;
}

function flagRows(flags: Flag[]): string {
  const left = flags.map((f) => `${f.short ? `-${f.short}, ` : ''}--${f.name}${f.value ? ` ${f.value}` : ''}${f.optionalValue ? `[=${f.optionalValue}]` : ''}`);
  const w = Math.max(...left.map((l) => l.length));
  return flags.map((f, i) => `  ${left[i].padEnd(w)}   ${f.help}`).join('\n');
}

/** `kiln CMD --help` */
export function commandHelp(c: Command): string {
  const parts = [c.description ?? c.summary, `Usage:\n  ${c.usage}`];
  if (c.notes) parts.push(c.notes);
  if (c.aliases?.length) parts.push(`Aliases:\n  ${[c.name, ...c.aliases].join(', ')}`);
  if (c.flags?.length) parts.push(`Flags:\n${flagRows(c.flags)}`);
  return parts.join('\n\n');
}

/** The flags a command accepts, for the parser: every spelling, those that take a value, and those that may. */
export function flagSpec(c: Command | undefined): { known: Set<string>; valued: Set<string>; optional: Set<string> } {
  const known = new Set(['h', 'help']);
  const valued = new Set<string>();
  const optional = new Set<string>();
  if (!c) ['v', 'version'].forEach((f) => known.add(f));
  for (const f of c?.flags ?? []) {
    for (const n of [f.name, f.short]) {
      if (!n) continue;
      known.add(n);
      if (f.value) valued.add(n);
      if (f.optionalValue) optional.add(n);
    }
  }
  return { known, valued, optional };
}

/** Flags that take a value under any command: how the command word is told from a flag's value. */
export function allValued(): Set<string> {
  return new Set(COMMANDS.flatMap((c) => [...flagSpec(c).valued]));
}
