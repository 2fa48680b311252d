/**
 * Greedy pairwise merging over a string cut into initial symbols — the core
 * of both BPE (lowest merge rank first) and SentencePiece's BPE-style
 * encoder (highest score first). Symbols form a doubly linked list; every
 * adjacent pair that may merge sits in a heap, and a popped entry whose
 * symbols changed since it was queued is dropped. A word of n symbols costs
 * O(n log n), not the O(n²) of rescanning for the best pair after each merge.
 */
import { MergeQueue } from './merge-queue.js';

/**
 * Priority of merging two adjacent symbols (lower merges first), or
 * undefined when they may not merge.
 */
export type PairPriority = (left: string, right: string) => number | undefined;

/**
 * Merges the symbols of `text` whose boundaries are `bounds` (n + 1 offsets,
 * from 0 to text.length) and returns the boundaries of the final symbols.
 */
export function mergeSymbols(text: string, bounds: readonly number[], priorityOf: PairPriority): number[] {
  const n = bounds.length - 1;
  if (n <= 1) return bounds.slice();
  const start = new Int32Array(n);
  const end = new Int32Array(n);
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    start[i] = bounds[i];
    end[i] = bounds[i + 1];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }

  const queue = new MergeQueue();
  const consider = (l: number, r: number): void => {
    if (l < 0 || r < 0) return;
    const p = priorityOf(text.slice(start[l], end[l]), text.slice(start[r], end[r]));
    if (p !== undefined) queue.push({ priority: p, left: l, right: r, size: end[r] - start[l] });
  };
  for (let i = 1; i < n; i++) consider(i - 1, i);

  for (let c = queue.pop(); c !== undefined; c = queue.pop()) {
    const { left, right } = c;
    // A merged-away symbol has start -1; a symbol that grew changed the span.
    if (start[left] < 0 || start[right] < 0 || end[right] - start[left] !== c.size) continue;
    end[left] = end[right];
    start[right] = -1;
    const after = next[right];
    next[left] = after;
    if (after >= 0) prev[after] = left;
    consider(prev[left], left);
    consider(left, after);
  }

  const out = [0];
  for (let i = 0; i >= 0; i = next[i]) out.push(end[i]);
  return out;
}

/** Boundaries of the code points of `text` (a surrogate pair is one symbol). */
export function codePointBounds(text: string): number[] {
  const b = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    b.push(i + 1);
  }
  return b;
}

/** Boundaries of every UTF-16 unit (for byte-alphabet words, where each character is one byte). */
export function unitBounds(length: number): number[] {
  const b = new Array<number>(length + 1);
  for (let i = 0; i <= length; i++) b[i] = i;
  return b;
}
