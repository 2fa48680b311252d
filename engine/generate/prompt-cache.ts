/**
 * Keys and values of recent conversations, kept outside any native context:
 * each entry is a token sequence and a host copy of its KV rows
 * (NativeLlama.kvSave's layout: per layer, the n key rows then the n value
 * rows). A request whose prompt starts with an entry's tokens loads them into
 * its own sequence and evaluates only the rest, whichever sequence (slot)
 * served the entry, and, since the bytes live here rather than in the
 * context, even in another context of the same model (the runner hands its
 * entries to the daemon when it is stopped, and gets them back on the next
 * load).
 *
 * Entries are bounded by a byte budget; the least recently used go first. An
 * entry whose tokens are a prefix of a newer one's is dropped (the newer one
 * serves both).
 */

export interface PromptCacheEntry {
  tokens: number[];
  /** KV rows of tokens.length positions, kvSave's layout. */
  bytes: Uint8Array;
}

/** Entries shorter than this are not worth a copy. */
const MIN_TOKENS = 16;

export class PromptCache {
  private entries: (PromptCacheEntry & { used: number })[] = [];
  private clock = 0;
  private total = 0;

  /**
   * @param budget bytes the entries may hold in all
   * @param layers the model's layer count (to cut an entry to a shorter prefix)
   * @param kvRow bytes of one position's key row and value row, when they differ (a cache whose
   *   K and V types differ); absent: equal halves
   */
  constructor(
    readonly budget: number,
    private readonly layers: number,
    private readonly kvRow?: { k: number; v: number },
  ) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * The longest cached prefix of `prompt`, at most `max` tokens, when longer
   * than `atLeast`: its length and KV bytes (cut to that length).
   */
  lookup(prompt: number[], max: number, atLeast = 0): { n: number; bytes: Uint8Array } | undefined {
    let best: (typeof this.entries)[number] | undefined;
    let bestN = atLeast;
    for (const e of this.entries) {
      const lim = Math.min(e.tokens.length, max);
      let n = 0;
      while (n < lim && e.tokens[n] === prompt[n]) n++;
      if (n > bestN) {
        best = e;
        bestN = n;
      }
    }
    if (!best) return undefined;
    best.used = ++this.clock;
    return { n: bestN, bytes: bestN === best.tokens.length ? best.bytes : this.cut(best, bestN) };
  }

  /** Keeps `tokens` with the KV bytes that `save` copies out (called only when they are kept). */
  store(tokens: number[], save: () => ArrayBuffer | Uint8Array): void {
    if (tokens.length < MIN_TOKENS) return;
    // already held by an entry that starts with them all
    for (const e of this.entries) {
      if (e.tokens.length >= tokens.length && tokens.every((t, i) => e.tokens[i] === t)) {
        e.used = ++this.clock;
        return;
      }
    }
    const raw = save();
    const bytes = raw instanceof Uint8Array ? raw : new Uint8Array(raw);
    this.add({ tokens: tokens.slice(), bytes });
  }

  /** Adds an entry as it is (entries handed over from another context). */
  add(entry: PromptCacheEntry): void {
    if (entry.bytes.byteLength > this.budget || entry.tokens.length === 0) return;
    const t = entry.tokens;
    // the new entry supersedes the ones that are prefixes of it
    this.entries = this.entries.filter((e) => {
      const prefix = e.tokens.length <= t.length && e.tokens.every((x, i) => t[i] === x);
      if (prefix) this.total -= e.bytes.byteLength;
      return !prefix;
    });
    this.entries.push({ tokens: t, bytes: entry.bytes, used: ++this.clock });
    this.total += entry.bytes.byteLength;
    while (this.total > this.budget) {
      let lru = 0;
      for (let i = 1; i < this.entries.length; i++) if (this.entries[i].used < this.entries[lru].used) lru = i;
      this.total -= this.entries[lru].bytes.byteLength;
      this.entries.splice(lru, 1);
    }
  }

  /** The entries, most recently used last (to hand them to another context). */
  list(): PromptCacheEntry[] {
    return this.entries
      .slice()
      .sort((a, b) => a.used - b.used)
      .map((e) => ({ tokens: e.tokens, bytes: e.bytes }));
  }

  /** The first n positions of an entry: per layer, its first n key rows and first n value rows. */
  private cut(e: PromptCacheEntry, n: number): Uint8Array {
    const len = e.tokens.length;
    const half = e.bytes.byteLength / (this.layers * 2 * len);
    const k = this.kvRow?.k ?? half, v = this.kvRow?.v ?? half;
    const out = new Uint8Array(this.layers * n * (k + v));
    let from = 0, to = 0;
    for (let l = 0; l < this.layers; l++)
      for (const row of [k, v]) {
        out.set(e.bytes.subarray(from, from + n * row), to);
        from += len * row;
        to += n * row;
      }
    return out;
  }
}
