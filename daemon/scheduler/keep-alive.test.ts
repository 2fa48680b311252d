import { describe, expect, it } from 'vitest';
import { parseGoDuration, parseKeepAlive } from './keep-alive.js';

describe('keep_alive durations', () => {
  const table: [unknown, number][] = [
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['10s', 10_000],
    ['2h45m30s', 9_930_000],
    ['0', 0],
    ['0s', 0],
    ['300', 300_000],
    ['30.5', 30_500],
    [300, 300_000],
    [0, 0],
    [1.5, 1500],
    [-1, Infinity],
    ['-1', Infinity],
    ['-1m', Infinity],
    ['-5s', Infinity],
  ];
  it.each(table)('reads %j as %d ms', (v, ms) => {
    expect(parseKeepAlive(v)).toBe(ms);
  });

  it.each(['', 'forever', '5 minutes', '5x', 'm', '1h30', null, {}, true])('refuses %j with a clear message', (v) => {
    expect(() => parseKeepAlive(v)).toThrow(/keep_alive: invalid duration/);
  });

  it('parses Go durations as time.ParseDuration does', () => {
    expect(parseGoDuration('1m0.5s')).toBe(60_500);
    expect(parseGoDuration('1us')).toBeCloseTo(0.001);
    expect(parseGoDuration('+2m')).toBe(120_000);
    expect(parseGoDuration('1')).toBeUndefined();
  });
});
