import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { History, LineAssembler } from './input.js';

describe('multi-line input', () => {
  it('passes ordinary lines through', () => {
    const a = new LineAssembler();
    expect(a.push('hello')).toBe('hello');
    expect(a.open).toBe(false);
  });

  it('joins the lines between """ and """', () => {
    const a = new LineAssembler();
    expect(a.push('"""first')).toBeUndefined();
    expect(a.open).toBe(true);
    expect(a.push('second')).toBeUndefined();
    expect(a.push('third"""')).toBe('first\nsecond\nthird');
    expect(a.open).toBe(false);
  });

  it('drops the empty first line of a block opened by """ alone, and takes """x""" on one line', () => {
    const a = new LineAssembler();
    a.push('"""');
    a.push('line one');
    expect(a.push('"""')).toBe('line one\n');
    expect(a.push('"""one line"""')).toBe('one line');
  });
});

describe('history', () => {
  it('walks back and forth, returning to the draft, and persists across sessions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-hist-'));
    try {
      const file = join(dir, 'history');
      const h = new History(file);
      h.add('one');
      h.add('two');
      h.add('two'); // repeated: kept once
      expect(h.prev('draft')).toBe('two');
      expect(h.prev('two')).toBe('one');
      expect(h.prev('one')).toBe('one');
      expect(h.next()).toBe('two');
      expect(h.next()).toBe('draft');
      const again = new History(file);
      expect(again.prev('')).toBe('two');
      expect(again.prev('')).toBe('one');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps only the last entries', () => {
    const h = new History(undefined, 2);
    for (const x of ['a', 'b', 'c']) h.add(x);
    expect(h.prev('')).toBe('c');
    expect(h.prev('')).toBe('b');
    expect(h.prev('')).toBe('b');
  });
});
