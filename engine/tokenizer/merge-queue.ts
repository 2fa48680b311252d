/**
 * The work queue both merge tokenizers share: a binary min-heap of candidate
 * merges of two adjacent symbols. Lower `priority` pops first (a BPE rank, or
 * a negated SentencePiece score); ties go to the leftmost pair, the order
 * llama.cpp's queues use, which decides the result when equal-priority pairs
 * overlap ("aaa").
 */
export interface MergeCandidate {
  priority: number;
  left: number;
  right: number;
  /** Combined length of the two symbols when queued: a later merge of either makes the entry stale. */
  size: number;
}

export class MergeQueue {
  private readonly items: MergeCandidate[] = [];

  get length(): number {
    return this.items.length;
  }

  push(c: MergeCandidate): void {
    const a = this.items;
    let i = a.length;
    a.push(c);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(c, a[parent])) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = c;
  }

  pop(): MergeCandidate | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(a[r], a[l]) ? r : l;
      if (!before(a[child], last)) break;
      a[i] = a[child];
      i = child;
    }
    a[i] = last;
    return top;
  }
}

function before(x: MergeCandidate, y: MergeCandidate): boolean {
  return x.priority < y.priority || (x.priority === y.priority && x.left < y.left);
}
