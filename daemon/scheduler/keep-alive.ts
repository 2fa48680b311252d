import { KilnError } from '../../engine/errors.js';

/** How long a model stays loaded after its last request: milliseconds, or Infinity for "never unload". */
export type KeepAlive = number;

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Go's time.ParseDuration, which Ollama uses for keep_alive strings:
 * an optional sign, then one or more decimal numbers each with a unit
 * ("300ms", "1.5h", "1h30m", "-1m"); "0" alone needs no unit.
 */
export function parseGoDuration(text: string): number | undefined {
  let s = text.trim();
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let ms = 0;
  while (s.length > 0) {
    const m = PART.exec(s);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * ms;
}

/**
 * A keep_alive value as Ollama reads it: a JSON number is seconds, a string
 * is a Go duration or bare seconds ("300"); any negative value means never
 * unload; 0 means unload as soon as the request is done.
 */
export function parseKeepAlive(v: unknown, what = 'keep_alive'): KeepAlive {
  let ms: number | undefined;
  if (typeof v === 'number' && Number.isFinite(v)) ms = v * 1000;
  else if (typeof v === 'string') {
    const t = v.trim();
    ms = /^[+-]?\d+(\.\d+)?$/.test(t) ? Number(t) * 1000 : parseGoDuration(t);
  }
  if (ms === undefined || Number.isNaN(ms)) throw new KilnError('E_BAD_REQUEST', `${what}: invalid duration ${JSON.stringify(v)} (use "5m", "1h30m", seconds, 0 or a negative number)`);
  return ms < 0 ? Infinity : ms;
}

/** Date shown in /api/ps for a model that never unloads (kiln ps prints "Forever" past the year 2200). */
export const FOREVER = new Date('2318-11-18T00:00:00Z');
