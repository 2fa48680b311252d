/**
 * Output formats the way Ollama's CLI prints them, so scripts that parse
 * `ollama list` parse `kiln list` too.
 */

const UNITS: [number, string][] = [
  [1e12, 'TB'],
  [1e9, 'GB'],
  [1e6, 'MB'],
  [1e3, 'KB'],
];

/** Decimal units: "4.7 GB", "11 MB", "806 KB", "512 B". */
export function humanBytes(n: number): string {
  for (const [size, unit] of UNITS) {
    if (n >= size) {
      const v = n / size;
      if (v >= 10 || Number.isInteger(v)) return `${Math.floor(v)} ${unit}`;
      return `${v.toFixed(1)} ${unit}`;
    }
  }
  return `${n} B`;
}

/** Relative time: "Less than a second ago", "3 minutes ago", "About an hour ago", "2 weeks ago". */
export function humanTime(then: Date, now: Date = new Date()): string {
  const s = (now.getTime() - then.getTime()) / 1000;
  if (s < 0) return humanFuture(-s);
  return `${humanDuration(s)} ago`;
}

function humanFuture(s: number): string {
  return `${humanDuration(s)} from now`;
}

/** A duration in words, as Docker's and Ollama's CLIs word it. */
export function humanDuration(s: number): string {
  const m = s / 60;
  const h = m / 60;
  const d = h / 24;
  if (s < 1) return 'Less than a second';
  if (Math.round(s) === 1) return '1 second';
  if (s < 60) return `${Math.round(s)} seconds`;
  if (Math.round(m) === 1) return 'About a minute';
  if (m < 60) return `${Math.round(m)} minutes`;
  if (Math.round(h) === 1) return 'About an hour';
  if (h < 48) return `${Math.round(h)} hours`;
  if (d < 14) return `${Math.round(d)} days`;
  if (d < 60) return `${Math.round(d / 7)} weeks`;
  if (d < 730) return `${Math.round(d / 30)} months`;
  return `${Math.round(d / 365)} years`;
}

/** Left-aligned columns separated by at least three spaces (tabwriter-like). */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] + 3))).join('').trimEnd()).join('\n');
}
