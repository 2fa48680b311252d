#!/usr/bin/env node
import { isKilnError } from '../common/errors.js';
import { loadConfig } from '../daemon/config.js';
import { commandIndex, parseArgs, UsageError, type Args } from './args.js';
import { ApiError, Client, DaemonNotRunning } from './client.js';
import { allValued, commandHelp, findCommand, flagSpec, topUsage, type Command, type Context } from './table.js';
import { versionCommand } from './version.js';
import { guardStdout, stdoutClosed } from './stdout.js';

function usageError(message: string, cmd: Command | undefined): number {
  process.stderr.write(`Error: ${message}\n\n${cmd ? commandHelp(cmd) : topUsage()}\n`);
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const at = commandIndex(argv, allValued());
  const word = at >= 0 ? argv[at] : undefined;
  const cmd = word === undefined ? undefined : findCommand(word);
  if (word !== undefined && !cmd) {
    process.stderr.write(`Error: unknown command "${word}" for "kiln"\nRun 'kiln --help' for usage.\n`);
    return 1;
  }
  const spec = flagSpec(cmd);
  let parsed: Args;
  try {
    parsed = parseArgs(at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 1)] : argv, spec.valued, spec.known, spec.optional);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e.message, cmd);
    throw e;
  }
  const { positional: args, flags } = parsed;
  if (!cmd) {
    if (flags.has('v') || flags.has('version')) return versionCommand();
    process.stdout.write(`${topUsage()}\n`);
    return 0;
  }
  if (flags.has('h') || flags.has('help')) {
    process.stdout.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  const n = cmd.minArgs ?? 0;
  if (args.length < n) return usageError(`"kiln ${cmd.name}" requires ${n === 1 ? 'at least 1 argument' : `${n} arguments`}`, cmd);
  let client: Client | undefined;
  const config = cmd.name === 'help' || cmd.name === 'version' ? undefined : loadConfig();
  const ctx: Context = {
    args,
    flags,
    get config() {
      return config ?? loadConfig();
    },
    client: () => (client ??= new Client(ctx.config)),
  };
  try {
    return (await cmd.run(ctx)) ?? 0;
  } finally {
    await client?.close();
  }
}

guardStdout();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = stdoutClosed() ? 0 : code;
  },
  (e) => {
    if (stdoutClosed()) {
      process.exitCode = 0;
      return;
    }
    if (!(e as { shown?: boolean }).shown) {
      const msg = e instanceof DaemonNotRunning ? e.message : e instanceof ApiError || isKilnError(e) ? `Error: ${e.message}` : `Error: ${(e as Error)?.stack ?? e}`;
      process.stderr.write(`${msg}\n`);
    }
    process.exitCode = 1;
  },
);
