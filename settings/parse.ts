/**
 * Parsers for setting values. Each returns undefined for a value it does not
 * accept; the settings table turns that into one E_CONFIG error naming the
 * variable and the accepted form.
 */

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** A byte count: plain bytes or a number with a unit (KB/MB/GB decimal, KiB/MiB/GiB binary). */
export function parseBytes(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** An integer ≥ min (plain decimal digits, as Ollama's strconv reads them). */
export function parseInteger(raw: string, min: number): number | undefined {
  if (!/^[+-]?\d+$/.test(raw.trim())) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= min ? n : undefined;
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

export function parseBool(raw: string): boolean | undefined {
  const v = raw.trim().toLowerCase();
  return TRUE.includes(v) ? true : FALSE.includes(v) ? false : undefined;
}

export interface HostPort {
  hostname: string;
  port: number;
}

/** An address as Ollama reads OLLAMA_HOST: scheme optional, port optional (default 11434). */
export function parseHostPort(raw: string): HostPort | undefined {
  const s = raw.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  let port = 11434;
  let hostname = s;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    hostname = v6[1];
    if (v6[2]) port = Number(v6[2]);
  } else if (s.includes(':') && s.indexOf(':') === s.lastIndexOf(':')) {
    const [h, p] = s.split(':');
    hostname = h;
    port = Number(p);
  }
  if (hostname === '') hostname = '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { hostname, port };
}

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
 * ("300ms", "1.5h", "1h30m", "-1m"); "0" alone needs no unit. Milliseconds.
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

/** A keep-alive string as Ollama reads one: a Go duration or bare seconds. Milliseconds. */
export function parseDurationOrSeconds(text: string): number | undefined {
  const t = text.trim();
  return /^[+-]?\d+(\.\d+)?$/.test(t) ? Number(t) * 1000 : parseGoDuration(t);
}
