import { describe, expect, it } from 'vitest';
import { humanBytes, humanTime, table } from './format.js';

describe('humanBytes (decimal units, as ollama list prints them)', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1 KB'],
    [1500, '1.5 KB'],
    [10_972_064, '10 MB'],
    [274_302_450, '274 MB'],
    [4_661_224_676, '4.7 GB'],
    [2_000_000_000, '2 GB'],
    [40_000_000_000, '40 GB'],
    [1.2e12, '1.2 TB'],
  ])('%d → %s', (n, s) => expect(humanBytes(n)).toBe(s));
});

describe('humanTime', () => {
  const now = new Date('2026-01-10T12:00:00Z');
  const ago = (secs: number) => humanTime(new Date(now.getTime() - secs * 1000), now);
  it.each([
    [0.2, 'Less than a second ago'],
    [1, '1 second ago'],
    [42, '42 seconds ago'],
    [65, 'About a minute ago'],
    [300, '5 minutes ago'],
    [3700, 'About an hour ago'],
    [5 * 3600, '5 hours ago'],
    [3 * 86400, '3 days ago'],
    [21 * 86400, '3 weeks ago'],
    [120 * 86400, '4 months ago'],
    [800 * 86400, '2 years ago'],
  ])('%d s → %s', (s, text) => expect(ago(s)).toBe(text));
});

describe('table', () => {
  it('pads columns by the widest cell plus three spaces', () => {
    expect(table(['NAME', 'ID'], [['a:latest', '123'], ['bbbbbbbbbb:x', '4']])).toBe('NAME' + ' '.repeat(11) + 'ID\n' + 'a:latest' + ' '.repeat(7) + '123\n' + 'bbbbbbbbbb:x   4');
  });
});
