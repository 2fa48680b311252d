import { KilnError } from '../engine/errors.js';

export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

/**
 * Splits argv into positionals and flags. `valued` names the flags that take
 * a value (`-f FILE`, `--quantize=q4_K_M`); the rest are booleans.
 */
export function parseArgs(argv: string[], valued: Set<string>): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const key = (eq > 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
      if (valued.has(key)) {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new KilnError('E_BAD_REQUEST', `flag ${a} needs a value`);
        flags.set(key, v);
      } else {
        if (eq > 0) throw new KilnError('E_BAD_REQUEST', `flag --${key} takes no value`);
        flags.set(key, true);
      }
    } else positional.push(a);
  }
  return { positional, flags };
}
