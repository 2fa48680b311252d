import React, { useReducer, useRef, useState } from 'react';
import { Box, Static, Text, useApp, useInput } from 'ink';
import { History, LineAssembler } from '../chat/input.js';
import { formatStats, type ChatSession } from '../chat/session.js';

/** A line of the transcript: printed once, above the live area, and left in the scrollback. */
export interface Line {
  id: number;
  text: string;
  style?: 'prompt' | 'dim' | 'error';
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const PLACEHOLDER = 'Send a message (/? for help)';

/** The editable line: text and cursor. Kept in a ref so fast key bursts never see stale state. */
interface Editor {
  text: string;
  cursor: number;
}

function insert(e: Editor, s: string): void {
  e.text = e.text.slice(0, e.cursor) + s + e.text.slice(e.cursor);
  e.cursor += s.length;
}

function deleteWordBefore(e: Editor): void {
  const before = e.text.slice(0, e.cursor).replace(/\S+\s*$/, '');
  e.text = before + e.text.slice(e.cursor);
  e.cursor = before.length;
}

export interface ChatAppProps {
  session: ChatSession;
  history: History;
}

/**
 * `kiln run`'s interactive chat, as Ollama's REPL behaves: `>>> ` prompt,
 * streamed answers, `"""` blocks, slash commands, Ctrl+C stops an answer
 * (at an empty prompt it says how to leave), Ctrl+D or /bye leaves,
 * up/down browse the history. Finished lines go to <Static> so a long answer
 * scrolls like ordinary output; only the line being written is redrawn.
 */
export function ChatApp({ session, history }: ChatAppProps): React.ReactElement {
  const { exit } = useApp();
  const [lines, setLines] = useState<Line[]>([]);
  const [, redraw] = useReducer((x: number) => x + 1, 0);
  const editor = useRef<Editor>({ text: '', cursor: 0 });
  const assembler = useRef(new LineAssembler());
  const answering = useRef<AbortController | null>(null);
  const busy = useRef(false);
  const partial = useRef<string | null>(null);
  /** The line being written is reasoning (shown dimmed). */
  const partialDim = useRef(false);
  /** The first piece of the answer has come (until then a spinner shows). */
  const started = useRef(false);
  const [hint, setHint] = useState('');
  const [frame, setFrame] = useState(0);
  const nextId = useRef(0);

  const print = (text: string, style?: Line['style']) => {
    const add = text.split('\n').map((t) => ({ id: nextId.current++, text: t, style }));
    setLines((l) => [...l, ...add]);
  };

  const ask = async (text: string) => {
    const ac = new AbortController();
    answering.current = ac;
    partial.current = '';
    partialDim.current = false;
    started.current = false;
    const spin = setInterval(() => setFrame((f) => f + 1), 80);
    redraw();
    try {
      const g = session.answer(text, ac.signal);
      for (;;) {
        const r = await g.next();
        if (r.done) {
          if (partial.current) print(partial.current, partialDim.current ? 'dim' : undefined);
          partial.current = null;
          print('');
          if (r.value && session.verbose) print(formatStats(r.value), 'dim');
          break;
        }
        // a switch between reasoning and content ends the line being written
        if (r.value.dim !== partialDim.current && partial.current) {
          print(partial.current, partialDim.current ? 'dim' : undefined);
          partial.current = '';
        }
        partialDim.current = r.value.dim;
        let buf: string = (partial.current ?? '') + r.value.text;
        started.current = true;
        const nl = buf.lastIndexOf('\n');
        if (nl >= 0) {
          print(buf.slice(0, nl), r.value.dim ? 'dim' : undefined);
          buf = buf.slice(nl + 1);
        }
        partial.current = buf;
        redraw();
      }
    } catch (e) {
      if (partial.current) print(partial.current, partialDim.current ? 'dim' : undefined);
      partial.current = null;
      print(`Error: ${(e as Error).message}`, 'error');
    } finally {
      clearInterval(spin);
      answering.current = null;
      partial.current = null;
      redraw();
    }
  };

  const submit = async (line: string) => {
    print(`${assembler.current.open ? '... ' : '>>> '}${line}`, 'prompt');
    const msg = assembler.current.push(line);
    if (msg === undefined) return;
    history.add(line.includes('\n') || msg !== line ? `"""${msg}"""` : msg);
    if (msg.trim() === '') return;
    busy.current = true;
    try {
      if (msg.startsWith('/')) {
        const r = await session.command(msg).catch((e: Error) => ({ output: `Error: ${e.message}`, exit: false }));
        if (r.output) print(r.output);
        if (r.exit) {
          exit();
          return;
        }
      } else {
        await ask(msg);
      }
    } finally {
      busy.current = false;
      redraw();
      while (!busy.current && typedAhead.current.length > 0) {
        const [input, key] = typedAhead.current.shift()!;
        onKey(input, key);
      }
    }
  };

  type Key = Parameters<Parameters<typeof useInput>[0]>[1];
  /** Keys typed while an answer streams or a command runs: replayed after it (type-ahead). */
  const typedAhead = useRef<[string, Key][]>([]);

  const onKey = (input: string, key: Key): void => {
    const e = editor.current;
    if (key.ctrl && input === 'c') {
      if (answering.current) {
        answering.current.abort();
        return;
      }
      if (e.text === '' && !assembler.current.open) setHint('Use Ctrl + d or /bye to exit.');
      assembler.current.reset();
      e.text = '';
      e.cursor = 0;
      redraw();
      return;
    }
    if (busy.current) {
      typedAhead.current.push([input, key]);
      return;
    }
    setHint('');
    if (key.ctrl && input === 'd') {
      if (e.text === '') exit();
      return;
    }
    if (key.return) {
      const line = e.text;
      e.text = '';
      e.cursor = 0;
      redraw();
      void submit(line);
      return;
    }
    if (key.upArrow || key.downArrow) {
      e.text = key.upArrow ? history.prev(e.text) : history.next();
      e.cursor = e.text.length;
    } else if (key.leftArrow) e.cursor = Math.max(0, e.cursor - 1);
    else if (key.rightArrow) e.cursor = Math.min(e.text.length, e.cursor + 1);
    else if (key.home || (key.ctrl && input === 'a')) e.cursor = 0;
    else if (key.end || (key.ctrl && input === 'e')) e.cursor = e.text.length;
    else if (key.ctrl && input === 'u') {
      e.text = '';
      e.cursor = 0;
    } else if (key.ctrl && input === 'w') deleteWordBefore(e);
    else if (key.backspace || key.delete) {
      // Terminals send DEL (0x7f) for Backspace, which is read as "delete": both erase before the cursor.
      if (e.cursor > 0) {
        e.text = e.text.slice(0, e.cursor - 1) + e.text.slice(e.cursor);
        e.cursor--;
      }
    } else if (!key.ctrl && !key.meta && input) {
      // A paste (or keys typed faster than they are read) arrives as one chunk: line breaks in it
      // submit the lines before them, and control characters act as their keys.
      const chars = [...input];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i];
        if (ch === '\r' || ch === '\n') {
          const line = e.text;
          e.text = '';
          e.cursor = 0;
          void submit(line);
          if (busy.current) {
            // The rest waits until this message has been answered.
            const rest = chars.slice(i + 1).join('');
            if (rest) typedAhead.current.push([rest, key]);
            break;
          }
        } else if (ch === '\x04') {
          if (e.text === '') exit();
        } else if (ch === '\x15') {
          e.text = '';
          e.cursor = 0;
        } else if (ch === '\x7f' || ch === '\b') {
          if (e.cursor > 0) {
            e.text = e.text.slice(0, e.cursor - 1) + e.text.slice(e.cursor);
            e.cursor--;
          }
        } else if (ch >= ' ' || ch === '\t') insert(e, ch);
      }
    }
    redraw();
  };
  useInput(onKey);

  const e = editor.current;
  const prompt = assembler.current.open ? '... ' : '>>> ';
  return (
    <>
      <Static items={lines}>
        {(l) => (
          <Text key={l.id} bold={l.style === 'prompt'} dimColor={l.style === 'dim'} color={l.style === 'error' ? 'red' : undefined}>
            {l.text === '' ? ' ' : l.text}
          </Text>
        )}
      </Static>
      {partial.current !== null ? (
        <Text dimColor={started.current && partialDim.current}>{started.current ? partial.current || ' ' : FRAMES[frame % FRAMES.length]}</Text>
      ) : busy.current ? null : (
        <Box flexDirection="column">
          <Text>
            <Text bold>{prompt}</Text>
            {e.text === '' && !assembler.current.open ? (
              <>
                <Text inverse> </Text>
                <Text dimColor>{PLACEHOLDER}</Text>
              </>
            ) : (
              <>
                {e.text.slice(0, e.cursor)}
                <Text inverse>{e.text[e.cursor] ?? ' '}</Text>
                {e.text.slice(e.cursor + 1)}
              </>
            )}
          </Text>
          {hint ? <Text dimColor>{hint}</Text> : null}
        </Box>
      )}
    </>
  );
}
