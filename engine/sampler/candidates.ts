/**
 * The set of tokens still in the running while the sampler chain narrows it:
 * ids with their logits (float64, so the chain's arithmetic does not round
 * twice) and, after `softmax`, their probabilities. Only the first `size`
 * entries count; steps shrink `size` instead of reallocating.
 */
export class Candidates {
  size: number;
  /** Whether entries 0..size are in descending logit order (ties: lower id first). */
  sorted = false;

  private constructor(
    readonly ids: Int32Array,
    readonly logits: Float64Array,
    readonly probs: Float64Array,
  ) {
    this.size = ids.length;
  }

  /** Every token whose logit is not -Infinity (masked tokens never enter). */
  static fromLogits(logits: ArrayLike<number>): Candidates {
    let n = 0;
    for (let i = 0; i < logits.length; i++) if (logits[i] > -Infinity) n++;
    const c = new Candidates(new Int32Array(n), new Float64Array(n), new Float64Array(n));
    for (let i = 0, j = 0; i < logits.length; i++) {
      if (!(logits[i] > -Infinity)) continue;
      c.ids[j] = i;
      c.logits[j++] = logits[i];
    }
    return c;
  }

  /** Builds candidates from explicit (id, logit) pairs; for tests and callers with a short list. */
  static of(pairs: [id: number, logit: number][]): Candidates {
    const n = pairs.length;
    const c = new Candidates(new Int32Array(n), new Float64Array(n), new Float64Array(n));
    pairs.forEach(([id, l], i) => {
      c.ids[i] = id;
      c.logits[i] = l;
    });
    return c;
  }

  /**
   * Puts the `k` highest logits first, in descending order, and drops the
   * rest (all of them when k ≥ size). Top-k of a large vocabulary goes
   * through a size-k min-heap: O(n log k) instead of a full sort.
   */
  sortDesc(k = this.size): void {
    k = Math.min(k, this.size);
    if (this.sorted) {
      this.size = k;
      return;
    }
    const order = k * 8 < this.size ? this.heapTop(k) : this.fullOrder().subarray(0, k);
    this.permute(order);
    this.size = k;
    this.sorted = true;
  }

  /** Probabilities of the first `size` entries (softmax of their logits). Returns the largest. */
  softmax(): number {
    const n = this.size;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (this.logits[i] > max) max = this.logits[i];
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp(this.logits[i] - max);
      this.probs[i] = e;
      sum += e;
    }
    let pmax = 0;
    for (let i = 0; i < n; i++) {
      this.probs[i] /= sum;
      if (this.probs[i] > pmax) pmax = this.probs[i];
    }
    return pmax;
  }

  /** Reorders the first `order.length` entries as `order` lists them (indices into the current entries). */
  permute(order: ArrayLike<number>): void {
    const n = order.length;
    const ids = new Int32Array(n);
    const logits = new Float64Array(n);
    const probs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = this.ids[order[i]];
      logits[i] = this.logits[order[i]];
      probs[i] = this.probs[order[i]];
    }
    this.ids.set(ids);
    this.logits.set(logits);
    this.probs.set(probs);
    this.sorted = false;
  }

  /** Keeps only the entries for which `keep(index)` holds, in their order. */
  filter(keep: (i: number) => boolean): void {
    let j = 0;
    for (let i = 0; i < this.size; i++) {
      if (!keep(i)) continue;
      this.ids[j] = this.ids[i];
      this.logits[j] = this.logits[i];
      this.probs[j] = this.probs[i];
      j++;
    }
    this.size = j;
  }

  /** The ids of the first `size` entries, as a plain array. */
  idList(): number[] {
    return Array.from(this.ids.subarray(0, this.size));
  }

  private before(a: number, b: number): boolean {
    const la = this.logits[a];
    const lb = this.logits[b];
    return la > lb || (la === lb && this.ids[a] < this.ids[b]);
  }

  private fullOrder(): Int32Array {
    const order = new Int32Array(this.size);
    for (let i = 0; i < order.length; i++) order[i] = i;
    return order.sort((a, b) => (this.before(a, b) ? -1 : this.before(b, a) ? 1 : 0));
  }

  private heapTop(k: number): Int32Array {
    // heap[0] is the weakest of the k best seen so far.
    const heap = new Int32Array(k);
    const weaker = (a: number, b: number) => this.before(b, a);
    const down = (i: number) => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < k && weaker(heap[l], heap[m])) m = l;
        if (r < k && weaker(heap[r], heap[m])) m = r;
        if (m === i) return;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    };
    for (let i = 0; i < k; i++) heap[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) down(i);
    for (let i = k; i < this.size; i++) {
      if (!this.before(i, heap[0])) continue;
      heap[0] = i;
      down(0);
    }
    return heap.sort((a, b) => (this.before(a, b) ? -1 : 1));
  }
}
