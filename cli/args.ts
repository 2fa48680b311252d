import { KilnError } from '../common/errors.js';

export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

/** A flag's spelling as typed (`-f`, `--file`), without any `=value`. */
function flagName(a: string): { key: string; eq: number } {
  const eq = a.indexOf('=');
  return { key: (eq > 0 ? a.slice(0, eq) : a).replace(/^--?/, ''), eq };
}

const isFlag = (a: string) => a.startsWith('-') && a !== '-';

/** A command line that names a flag the command does not have, or misuses one: shown with the command's usage. */
export class UsageError extends KilnError {
  constructor(message: string) {
    super('E_BAD_REQUEST', message);
  }
}

/**
 * Splits argv into positionals and flags. `valued` names the flags that take
 * a value (`-f FILE`, `--quantize=q4_K_M`); `optional` the switches that may
 * be given one after `=` (`--think`, `--think=high`; never the next word);
 * with `known`, any other flag outside it is a UsageError (`unknown flag:
 * --bogus`), and without it every other flag is taken as a boolean.
 */
export function parseArgs(argv: string[], valued: Set<string>, known?: Set<string>, optional: Set<string> = new Set()): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (isFlag(a)) {
      const { key, eq } = flagName(a);
      if (valued.has(key)) {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new UsageError(`flag needs an argument: ${a}`);
        flags.set(key, v);
      } else {
        if (known && !known.has(key)) throw new UsageError(`unknown flag: ${eq > 0 ? a.slice(0, eq) : a}`);
        if (eq > 0 && optional.has(key)) flags.set(key, a.slice(eq + 1));
        else if (eq > 0) throw new UsageError(`flag --${key} takes no value`);
        else flags.set(key, true);
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

/**
 * Where the command word is in argv: the first argument that is not a flag or
 * a flag's value (`valued`: the flags of any command that take one). -1 if none.
 */
export function commandIndex(argv: string[], valued: Set<string>): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!isFlag(a)) return i;
    const { key, eq } = flagName(a);
    if (eq < 0 && valued.has(key)) i++;
  }
  return -1;
}
