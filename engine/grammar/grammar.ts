/**
 * A context-free grammar over bytes and its incremental recognizer, in the
 * manner of llama.cpp's GBNF sampler: the parse state is a set of stacks,
 * each a path through the rules whose top expects one byte class; feeding a
 * byte keeps the stacks whose top accepts it, steps past it and expands rule
 * references until every stack again expects a byte (or has finished the
 * root). Alternatives are explored in parallel, so ambiguous grammars (anyOf
 * in a schema) need no backtracking.
 *
 * Grammars must not be left-recursive and must not repeat anything that can
 * match the empty string (builders here never produce either); expansion
 * refuses both rather than looping. A rule reference in last place is a tail
 * call (as in llama.cpp), so repetition does not grow the stacks.
 */
import { KilnError } from '../../common/errors.js';

/** One element of an alternative: a byte class, or a reference to a rule. */
export type Elem = { kind: 'bytes'; set: Uint8Array } | { kind: 'rule'; rule: number };

/** Rules by index; each rule is a list of alternatives, each a sequence of elements. */
export interface Grammar {
  rules: Elem[][][];
  root: number;
}

/** A position in an alternative, on top of the stack of positions that called it (interned: equal stacks are one object). */
export interface Frame {
  readonly id: number;
  readonly rule: number;
  readonly alt: number;
  readonly pos: number;
  readonly parent: Frame | null;
}

/** The parse state: stacks whose top expects a byte, and whether the root may end here. */
export interface ParseState {
  readonly stacks: readonly Frame[];
  readonly complete: boolean;
  /** Stable identity of the state (for caches): frame ids, sorted. */
  readonly key: string;
}

const MAX_EXPANSION = 100_000;

/** A byte class from ranges and single characters: `bytes('az', '09', '_')` = [a-z0-9_]. */
export function byteClass(...parts: (string | [number, number])[]): Uint8Array {
  const set = new Uint8Array(256);
  for (const p of parts) {
    if (Array.isArray(p)) for (let b = p[0]; b <= p[1]; b++) set[b] = 1;
    else if (p.length === 2) for (let b = p.charCodeAt(0); b <= p.charCodeAt(1); b++) set[b] = 1;
    else set[p.charCodeAt(0)] = 1;
  }
  return set;
}

/** The recognizer of one grammar: states are immutable, frames interned for the recognizer's life. */
export class Recognizer {
  private readonly frames = new Map<string, Frame>();
  private nextId = 1;
  private readonly stepCache = new Map<string, ParseState>();
  /** States by key: an equal state is the same object, so callers may compare with ===. */
  private readonly states = new Map<string, ParseState>();

  constructor(readonly grammar: Grammar) {}

  private frame(rule: number, alt: number, pos: number, parent: Frame | null): Frame {
    const k = `${rule},${alt},${pos},${parent ? parent.id : 0}`;
    let f = this.frames.get(k);
    if (!f) {
      f = { id: this.nextId++, rule, alt, pos, parent };
      this.frames.set(k, f);
    }
    return f;
  }

  /** Expands `f` until every resulting stack's top expects a byte (or the root is done). */
  private expand(f: Frame | null, out: Map<number, Frame>, state: { complete: boolean; budget: number }, seen: Set<number>): void {
    if (--state.budget < 0) throw new KilnError('E_BAD_REQUEST', 'format: the grammar is too large to expand');
    if (f === null) {
      state.complete = true;
      return;
    }
    if (seen.has(f.id)) return; // an empty loop: already being expanded on this path
    const seq = this.grammar.rules[f.rule][f.alt];
    if (f.pos === seq.length) {
      const p = f.parent;
      this.expand(p && this.frame(p.rule, p.alt, p.pos + 1, p.parent), out, state, seen);
      return;
    }
    const el = seq[f.pos];
    if (el.kind === 'bytes') {
      out.set(f.id, f);
      return;
    }
    seen.add(f.id);
    // A reference in last place returns straight to our caller (a tail call): right-recursive
    // repetition (x*) then keeps one frame instead of one per repetition, so states recur.
    const ret = f.pos === seq.length - 1 ? f.parent : f;
    const alts = this.grammar.rules[el.rule];
    for (let a = 0; a < alts.length; a++) this.expand(this.frame(el.rule, a, 0, ret), out, state, seen);
    seen.delete(f.id);
  }

  private make(out: Map<number, Frame>, complete: boolean): ParseState {
    const stacks = [...out.values()].sort((x, y) => x.id - y.id);
    const key = `${complete ? 'c' : ''}${stacks.map((s) => s.id).join(',')}`;
    let st = this.states.get(key);
    if (!st) {
      st = { stacks, complete, key };
      this.states.set(key, st);
    }
    return st;
  }

  /** The state before any byte. */
  start(): ParseState {
    const out = new Map<number, Frame>();
    const st = { complete: false, budget: MAX_EXPANSION };
    const root = this.grammar.rules[this.grammar.root];
    for (let a = 0; a < root.length; a++) this.expand(this.frame(this.grammar.root, a, 0, null), out, st, new Set());
    return this.make(out, st.complete);
  }

  /** The state after one more byte; no stacks and not complete means the byte is not allowed. */
  step(s: ParseState, byte: number): ParseState {
    const ck = `${s.key}|${byte}`;
    const hit = this.stepCache.get(ck);
    if (hit) return hit;
    const out = new Map<number, Frame>();
    const st = { complete: false, budget: MAX_EXPANSION };
    for (const f of s.stacks) {
      const el = this.grammar.rules[f.rule][f.alt][f.pos] as { kind: 'bytes'; set: Uint8Array };
      if (el.set[byte]) this.expand(this.frame(f.rule, f.alt, f.pos + 1, f.parent), out, st, new Set());
    }
    const next = this.make(out, st.complete);
    if (this.stepCache.size > 200_000) {
      this.stepCache.clear();
      this.states.clear();
    }
    this.stepCache.set(ck, next);
    return next;
  }

  /** Whether the state can still lead anywhere (some stack expects a byte, or the root has ended). */
  static alive(s: ParseState): boolean {
    return s.stacks.length > 0 || s.complete;
  }

  /** Feeds bytes; returns the final state, or undefined at the first byte that is not allowed. */
  feed(s: ParseState, bytes: Uint8Array | string): ParseState | undefined {
    const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
    let cur = s;
    for (const x of b) {
      cur = this.step(cur, x);
      if (cur.stacks.length === 0 && !cur.complete) return undefined;
    }
    return cur;
  }
}

/**
 * Builds grammars: rules are created with `rule`, possibly first reserved
 * with `reserve` (for recursion) and defined later with `define`.
 */
export class GrammarBuilder {
  readonly rules: Elem[][][] = [];

  reserve(): number {
    this.rules.push([]);
    return this.rules.length - 1;
  }

  define(id: number, alts: Elem[][]): number {
    this.rules[id] = alts;
    return id;
  }

  rule(alts: Elem[][]): number {
    return this.define(this.reserve(), alts);
  }

  ref(id: number): Elem {
    return { kind: 'rule', rule: id };
  }

  bytes(set: Uint8Array): Elem {
    return { kind: 'bytes', set };
  }

  /** The UTF-8 bytes of `s`, one element each. */
  literal(s: string): Elem[] {
    return [...new TextEncoder().encode(s)].map((b) => {
      const set = new Uint8Array(256);
      set[b] = 1;
      return { kind: 'bytes', set } as Elem;
    });
  }

  /** Zero or more of `seq` (which must not match the empty string). */
  star(seq: Elem[]): Elem {
    const id = this.reserve();
    return this.ref(this.define(id, [[...seq, this.ref(id)], []]));
  }

  /** Zero or one of `seq`. */
  optional(seq: Elem[]): Elem {
    return this.ref(this.rule([seq, []]));
  }

  /** Between min and max (Infinity: unbounded) of `seq`. */
  repeat(seq: Elem[], min: number, max: number): Elem[] {
    const out: Elem[] = [];
    for (let i = 0; i < min; i++) out.push(...seq);
    if (max === Infinity) out.push(this.star(seq));
    else {
      // Nested optionals: (x (x (x)?)?)? for max - min more.
      let tail: Elem[] = [];
      for (let i = min; i < max; i++) tail = [this.optional([...seq, ...tail])];
      out.push(...tail);
    }
    return out;
  }

  build(root: number): Grammar {
    return { rules: this.rules, root };
  }
}
