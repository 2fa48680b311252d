#!/usr/bin/env node
import { isKilnError, KilnError } from '../engine/errors.js';
import { loadConfig, settingsHelp } from '../daemon/config.js';
import { kilnVersion } from '../daemon/version.js';
import { parseArgs } from './args.js';
import { ApiError, Client, DaemonNotRunning } from './client.js';
import { createCommand } from './commands/create.js';
import { pullCommand, pushCommand } from './commands/registry.js';
import { exportCommand, importCommand, importOllamaCommand, pruneCommand, verifyCommand } from './commands/archive.js';
import { cpCommand, listCommand, psCommand, rmCommand, showCommand, type ShowPart } from './commands/models.js';

const USAGE = `Usage:
  kiln [command]

Available Commands:
  serve       Start the kiln daemon
  run         Run a model
  stop        Stop a running model
  create      Create a model from a Modelfile
  quantize    Quantize a GGUF file (q4_K_M, q8_0, …)
  perplexity  Perplexity of a model over a text file
  kl          KL divergence of one model's predictions from another's
  pull        Pull a model from a registry
  push        Push a model to a registry
  export      Write a model to an OCI image-layout tar
  import      Read a model from an OCI image-layout tar
  import-ollama  Adopt the models of an Ollama store
  verify      Re-hash every blob and quarantine damaged ones
  prune       Remove blobs no model uses and stale partial downloads
  show        Show information for a model
  list        List models
  ps          List running models
  cp          Copy a model
  rm          Remove a model
  help        Help about any command

Flags:
  -h, --help      help for kiln
  -v, --version   Show version information

Use "kiln [command] --help" for more information about a command.`;

const HELP: Record<string, string> = {
  serve: `Start the kiln daemon\n\nUsage:\n  kiln serve\n\nEnvironment Variables:\n${settingsHelp()}`,
  create: 'Create a model from a Modelfile\n\nUsage:\n  kiln create MODEL [-f Modelfile] [--quantize TYPE]\n\nFlags:\n  -f, --file string       Name of the Modelfile (default "Modelfile")\n  -q, --quantize string   Quantize model to this level (e.g. q4_K_M)',
  quantize:
    'Quantize a GGUF file to another type (runs locally, no daemon needed)\n\nUsage:\n  kiln quantize IN.gguf OUT.gguf TYPE\n\nTypes:\n  q2_K q3_K_S q3_K_M q3_K_L q4_0 q4_1 q5_0 q5_1 q4_K_S q4_K_M q5_K_S q5_K_M q6_K q8_0 f16 bf16 f32\n\nFlags:\n  --json   progress as NDJSON on stdout',
  perplexity:
    'Perplexity of a model over a text file (runs locally, no daemon needed)\n\nUsage:\n  kiln perplexity MODEL FILE.txt [flags]\n\nMODEL is a GGUF file or a model name from the local store. The text is cut into windows of --ctx tokens,\neach evaluated from an empty cache after BOS, every token scored.\n\nFlags:\n  --ctx int   Window size in tokens (default 512, or the model\'s context if shorter)\n  --json      Result as JSON on stdout',
  kl: 'KL divergence of OTHER\'s next-token distributions from BASE\'s over a text file (runs locally)\n\nUsage:\n  kiln kl BASE OTHER FILE.txt [flags]\n\nFlags:\n  --ctx int   Window size in tokens (default 512, or the models\' context if shorter)\n  --json      Result as JSON on stdout',
  show: 'Show information for a model\n\nUsage:\n  kiln show MODEL [flags]\n\nFlags:\n  --license      Show license of a model\n  --modelfile    Show Modelfile of a model\n  --parameters   Show parameters of a model\n  --system       Show system message of a model\n  --template     Show template of a model',
  list: 'List models\n\nUsage:\n  kiln list [PREFIX]\n\nAliases:\n  list, ls',
  ps: 'List running models\n\nUsage:\n  kiln ps',
  run: 'Run a model\n\nUsage:\n  kiln run MODEL [PROMPT] [flags]\n\nWith a PROMPT or piped stdin, prints one answer and exits; otherwise an interactive chat (/? for help).\n\nFlags:\n  --format string      Response format (e.g. json)\n  --keepalive string   Duration to keep a model loaded (e.g. 5m)\n  --verbose            Show timings for response\n  --insecure           Use an insecure registry when pulling',
  stop: 'Stop a running model\n\nUsage:\n  kiln stop MODEL',
  cp: 'Copy a model\n\nUsage:\n  kiln cp SOURCE DESTINATION',
  rm: 'Remove a model\n\nUsage:\n  kiln rm MODEL [MODEL...]',
  pull: 'Pull a model from a registry\n\nUsage:\n  kiln pull MODEL [flags]\n\nFlags:\n  --insecure   Use an insecure registry (plain http)',
  export: 'Write a model to an OCI image-layout tar (for machines without a registry)\n\nUsage:\n  kiln export MODEL -o FILE.tar\n\nFlags:\n  -o, --output string   The archive to write',
  import: 'Read a model from an OCI image-layout tar; every digest is checked\n\nUsage:\n  kiln import FILE.tar [MODEL]\n\nMODEL overrides the name stored in the archive.',
  'import-ollama': 'Adopt the models of an Ollama store without downloading them (hard links where possible)\n\nUsage:\n  kiln import-ollama [DIR]\n\nDIR defaults to ~/.ollama/models (or $OLLAMA_MODELS of the daemon).',
  verify: 'Re-hash every blob; damaged ones are moved to $KILN_MODELS/quarantine\n\nUsage:\n  kiln verify',
  prune: 'Remove blobs that no model uses and partial downloads that are not running\n\nUsage:\n  kiln prune',
  push: 'Push a model to a registry\n\nUsage:\n  kiln push MODEL [flags]\n\nFlags:\n  --insecure   Use an insecure registry (plain http)',
  help: 'Help about any command\n\nUsage:\n  kiln help [command]',
};

function need(n: number, args: string[], cmd: string): void {
  if (args.length < n) {
    process.stderr.write(`Error: "kiln ${cmd}" requires ${n === 1 ? 'at least 1 argument' : `${n} arguments`}\n\n${HELP[cmd]}\n`);
    process.exit(1);
  }
}

async function main(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv, new Set(['f', 'file', 'q', 'quantize', 'ctx', 'o', 'output', 'format', 'keepalive']));
  const [cmd0, ...rest] = positional;
  const cmd = cmd0 === 'ls' ? 'list' : cmd0;
  if (!cmd && (flags.has('v') || flags.has('version'))) return versionCommand();
  if (!cmd || cmd === 'help') {
    const topic = rest[0] === 'ls' ? 'list' : rest[0];
    process.stdout.write(`${(topic && HELP[topic]) || USAGE}\n`);
    return 0;
  }
  if (cmd === 'version') return versionCommand();
  if (!(cmd in HELP)) {
    process.stderr.write(`Error: unknown command "${cmd}" for "kiln"\nRun 'kiln --help' for usage.\n`);
    return 1;
  }
  if (flags.has('h') || flags.has('help')) {
    process.stdout.write(`${HELP[cmd]}\n`);
    return 0;
  }
  const config = loadConfig();
  if (cmd === 'quantize') {
    need(3, rest, 'quantize');
    const { quantizeCommand } = await import('./commands/quantize.js');
    await quantizeCommand(rest[0], rest[1], rest[2], flags.has('json'));
    return 0;
  }
  if (cmd === 'perplexity' || cmd === 'kl') {
    need(cmd === 'kl' ? 3 : 2, rest, cmd);
    const { perplexityCommand, klCommand } = await import('./commands/eval.js');
    const evalFlags = { ctx: flags.get('ctx') as string | undefined, json: flags.has('json') };
    if (cmd === 'kl') await klCommand(config, rest[0], rest[1], rest[2], evalFlags);
    else await perplexityCommand(config, rest[0], rest[1], evalFlags);
    return 0;
  }
  if (cmd === 'serve') {
    const { serve } = await import('./commands/serve.js');
    return serve(config);
  }
  const client = new Client(config);
  try {
    switch (cmd) {
      case 'list':
        console.log(await listCommand(client, rest[0]));
        break;
      case 'run': {
        need(1, rest, 'run');
        const { runCommand } = await import('./commands/run.js');
        return await runCommand(client, config, rest[0], rest.slice(1), {
          verbose: flags.has('verbose'),
          format: flags.get('format') as string | undefined,
          keepAlive: flags.get('keepalive') as string | undefined,
          insecure: flags.has('insecure'),
        });
      }
      case 'stop': {
        need(1, rest, 'stop');
        const { stopCommand } = await import('./commands/run.js');
        await stopCommand(client, rest[0]);
        break;
      }
      case 'ps':
        console.log(await psCommand(client));
        break;
      case 'show': {
        need(1, rest, 'show');
        const part = (['modelfile', 'template', 'parameters', 'system', 'license'] as ShowPart[]).find((p) => flags.has(p));
        console.log(await showCommand(client, rest[0], part));
        break;
      }
      case 'rm':
        need(1, rest, 'rm');
        for (const line of await rmCommand(client, rest)) console.log(line);
        break;
      case 'cp':
        need(2, rest, 'cp');
        console.log(await cpCommand(client, rest[0], rest[1]));
        break;
      case 'pull':
      case 'push':
        need(1, rest, cmd);
        await (cmd === 'pull' ? pullCommand : pushCommand)(client, rest[0], flags.has('insecure'));
        break;
      case 'export': {
        need(1, rest, 'export');
        const out = (flags.get('o') ?? flags.get('output')) as string | undefined;
        if (!out) throw new KilnError('E_BAD_REQUEST', 'kiln export needs -o FILE');
        console.log(await exportCommand(client, rest[0], out));
        break;
      }
      case 'import':
        need(1, rest, 'import');
        await importCommand(client, rest[0], rest[1]);
        break;
      case 'import-ollama':
        await importOllamaCommand(client, rest[0]);
        break;
      case 'verify': {
        const r = await verifyCommand(client);
        console.log(r.text);
        if (!r.ok) return 1;
        break;
      }
      case 'prune':
        console.log(await pruneCommand(client));
        break;
      case 'create': {
        need(1, rest, 'create');
        const file = (flags.get('f') ?? flags.get('file') ?? 'Modelfile') as string;
        const q = (flags.get('q') ?? flags.get('quantize')) as string | undefined;
        await createCommand(client, rest[0], file, q);
        break;
      }
    }
    return 0;
  } finally {
    await client.close();
  }
}

async function versionCommand(): Promise<number> {
  const client = new Client(loadConfig());
  try {
    const v = await client.json<{ version: string }>('GET', '/api/version');
    console.log(`kiln version is ${v.version}`);
    if (v.version !== kilnVersion()) console.log(`Warning: client version is ${kilnVersion()}`);
  } catch {
    console.log('Warning: could not connect to a running kiln instance');
    console.log(`Warning: client version is ${kilnVersion()}`);
  } finally {
    await client.close();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    if (!(e as { shown?: boolean }).shown) {
      const msg = e instanceof DaemonNotRunning ? e.message : e instanceof ApiError || isKilnError(e) ? `Error: ${e.message}` : `Error: ${(e as Error)?.stack ?? e}`;
      process.stderr.write(`${msg}\n`);
    }
    process.exitCode = 1;
  },
);
