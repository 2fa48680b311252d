/**
 * Stop strings over streamed text. Text arrives in pieces (one per token);
 * a stop string can span several pieces, so the tail of the text that could
 * still grow into a stop string is held back until the next piece decides it.
 * Nothing of a stop string, nor anything after it, is ever released.
 */
export interface StopResult {
  /** Text that is safe to emit now. */
  text: string;
  /** A stop string was found; `text` ends where it began. */
  stopped: boolean;
  /** Which stop string it was (the earliest found; the first listed of those found at the same place). */
  stop?: string;
}

export class StopMatcher {
  private held = '';
  private readonly stops: string[];

  constructor(stops: readonly string[] = []) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  push(piece: string): StopResult {
    const buf = this.held + piece;
    let at = -1;
    let found: string | undefined;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        found = s;
      }
    }
    if (at >= 0) {
      this.held = '';
      return { text: buf.slice(0, at), stopped: true, stop: found };
    }
    const keep = this.partialTail(buf);
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** The end of the stream: held text was not a stop string after all. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of some stop string. */
  private partialTail(buf: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > best; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
