/**
 * A grammar applied to a vocabulary: which tokens may come next. Tokens
 * are walked in byte order so a prefix shared by many tokens is stepped
 * through once, and a prefix the grammar refuses rules out every token
 * that starts with it without looking at them byte by byte. Inside a free
 * string, where nearly every token is allowed, tokens made only of
 * ordinary string bytes are admitted without stepping at all.
 */
import type { Grammar, ParseState } from './grammar.js';
import { Recognizer } from './grammar.js';

/** Bytes that may appear unescaped inside a JSON string: printable ASCII but " and \, and UTF-8 bytes. */
function plainByte(b: number): boolean {
  return (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) || b >= 0x80;
}

/** The tokens of a vocabulary, as bytes, sorted, with the prefix they share with the previous one. Built once per model. */
export class VocabIndex {
  readonly order: Int32Array;
  readonly lcp: Int32Array;
  readonly plain: Uint8Array;

  constructor(
    readonly bytes: Uint8Array[],
    /** End-of-generation tokens: allowed exactly where the grammar may end. */
    readonly eog: number[],
  ) {
    const n = bytes.length;
    const ids = Array.from({ length: n }, (_, i) => i);
    ids.sort((a, b) => Buffer.compare(bytes[a], bytes[b]));
    this.order = Int32Array.from(ids);
    this.lcp = new Int32Array(n);
    this.plain = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const cur = bytes[ids[i]];
      this.plain[ids[i]] = cur.length > 0 && cur.every(plainByte) ? 1 : 0;
      if (i === 0) continue;
      const prev = bytes[ids[i - 1]];
      let l = 0;
      while (l < prev.length && l < cur.length && prev[l] === cur[l]) l++;
      this.lcp[i] = l;
    }
  }
}

/** The constraint for one generation: the grammar's state, advanced token by token. */
export class GrammarMask {
  private readonly rec: Recognizer;
  private state: ParseState;
  private readonly eog: Set<number>;

  constructor(
    private readonly index: VocabIndex,
    grammar: Grammar,
  ) {
    this.rec = new Recognizer(grammar);
    this.state = this.rec.start();
    this.eog = new Set(index.eog);
  }

  /** Whether the output so far is a complete value (end of generation allowed). */
  get complete(): boolean {
    return this.state.complete;
  }

  /** Advances past a generated token; false if the grammar did not allow it. */
  accept(id: number): boolean {
    if (this.eog.has(id)) return this.state.complete;
    const next = this.rec.feed(this.state, this.index.bytes[id]);
    if (!next) return false;
    this.state = next;
    return true;
  }

  /** Which tokens the grammar allows next (1 = allowed). */
  allowed(): Uint8Array {
    const { order, lcp, bytes, plain } = this.index;
    const out = new Uint8Array(bytes.length);
    const s0 = this.state;
    if (s0.complete) for (const id of this.index.eog) out[id] = 1;
    if (s0.stacks.length === 0) return out;
    // Inside a free string every ordinary byte leads back to the same state.
    let stringBody = true;
    for (let b = 0; b < 256 && stringBody; b++) if (plainByte(b) && this.rec.step(s0, b) !== s0) stringBody = false;

    const states: ParseState[] = [s0];
    let dead = Infinity; // tokens sharing this many leading bytes with the last refused one are refused too
    for (let i = 0; i < order.length; i++) {
      const id = order[i];
      const tb = bytes[id];
      const l = lcp[i];
      if (tb.length === 0 || l >= dead) continue;
      if (stringBody && plain[id] === 1) {
        out[id] = 1;
        for (let k = l; k < tb.length; k++) states[k + 1] = s0;
        dead = Infinity;
        continue;
      }
      let ok = true;
      for (let k = l; k < tb.length; k++) {
        const cur = states[k];
        const next = stringBody && cur === s0 && plainByte(tb[k]) ? s0 : this.rec.step(cur, tb[k]);
        if (next.stacks.length === 0 && !next.complete) {
          dead = k + 1;
          ok = false;
          break;
        }
        states[k + 1] = next;
      }
      if (ok) {
        out[id] = 1;
        dead = Infinity;
      }
    }
    return out;
  }

  /** The mask hook: forbidden tokens' logits become -Infinity. */
  apply(logits: Float32Array): void {
    const ok = this.allowed();
    for (let i = 0; i < logits.length; i++) if (!ok[i]) logits[i] = -Infinity;
  }
}
