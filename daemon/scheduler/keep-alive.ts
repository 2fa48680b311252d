import { KilnError } from '../../common/errors.js';
import { parseDurationOrSeconds } from '../../settings/parse.js';

export { parseGoDuration } from '../../settings/parse.js';

/** How long a model stays loaded after its last request: milliseconds, or Infinity for "never unload". */
export type KeepAlive = number;

/**
 * A keep_alive value as Ollama reads it: a JSON number is seconds, a string
 * is a Go duration or bare seconds ("300"); any negative value means never
 * unload; 0 means unload as soon as the request is done.
 */
export function parseKeepAlive(v: unknown, what = 'keep_alive'): KeepAlive {
  let ms: number | undefined;
  if (typeof v === 'number' && Number.isFinite(v)) ms = v * 1000;
  else if (typeof v === 'string') ms = parseDurationOrSeconds(v);
  if (ms === undefined || Number.isNaN(ms)) throw new KilnError('E_BAD_REQUEST', `${what}: invalid duration ${JSON.stringify(v)} (use "5m", "1h30m", seconds, 0 or a negative number)`);
  return ms < 0 ? Infinity : ms;
}

/** Date shown in /api/ps for a model that never unloads (kiln ps prints "Forever" past the year 2200). */
export const FOREVER = new Date('2318-11-18T00:00:00Z');
