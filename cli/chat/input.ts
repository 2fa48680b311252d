import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Joins typed lines into messages. A line starting with `"""` opens a
 * multi-line message that the first line ending with `"""` closes (both
 * on one line is a one-line message); other lines are messages by themselves.
 */
export class LineAssembler {
  private lines: string[] | undefined;

  /** Whether a `"""` message is open (the prompt shows `...`). */
  get open(): boolean {
    return this.lines !== undefined;
  }

  /** Adds a line; returns the finished message, or undefined while a `"""` message is open. */
  push(line: string): string | undefined {
    if (this.lines === undefined) {
      if (!line.startsWith('"""')) return line;
      const rest = line.slice(3);
      if (rest.endsWith('"""') && rest.length >= 3) return rest.slice(0, -3);
      this.lines = [rest];
      return undefined;
    }
    if (line.endsWith('"""')) {
      this.lines.push(line.slice(0, -3));
      const text = this.lines.join('\n').replace(/^\n/, '');
      this.lines = undefined;
      return text;
    }
    this.lines.push(line);
    return undefined;
  }

  reset(): void {
    this.lines = undefined;
  }
}

/** Input history for up/down, kept in a file across sessions (the last `max` entries). */
export class History {
  private entries: string[] = [];
  private pos = 0;
  private draft = '';

  constructor(
    private readonly file?: string,
    private readonly max = 1000,
  ) {
    if (file) {
      try {
        this.entries = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as string).slice(-max);
      } catch {
        // no history yet, or unreadable: start empty
      }
    }
    this.pos = this.entries.length;
  }

  add(entry: string): void {
    if (entry.trim() === '') return;
    if (this.entries.at(-1) !== entry) {
      this.entries.push(entry);
      if (this.entries.length > this.max) this.entries.shift();
      if (this.file) {
        try {
          mkdirSync(dirname(this.file), { recursive: true });
          appendFileSync(this.file, JSON.stringify(entry) + '\n', { mode: 0o600 });
        } catch {
          // history is a convenience: never fail the chat over it
        }
      }
    }
    this.pos = this.entries.length;
    this.draft = '';
  }

  /** The entry before the shown one (up arrow); `current` is kept as the draft to come back to. */
  prev(current: string): string {
    if (this.pos === this.entries.length) this.draft = current;
    if (this.pos > 0) this.pos--;
    return this.entries[this.pos] ?? current;
  }

  /** The entry after the shown one (down arrow), then the draft. */
  next(): string {
    if (this.pos < this.entries.length) this.pos++;
    return this.pos === this.entries.length ? this.draft : this.entries[this.pos];
  }
}
