import React, { useEffect, useState } from 'react';
import { Box, Text, render } from 'ink';
import type { ProgressResponse } from '../../daemon/api/types.js';
import { humanBytes } from '../format.js';

export interface ProgressState {
  done: string[];
  current?: ProgressResponse;
  error?: string;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function bar(completed: number, total: number, width = 30): string {
  const f = total > 0 ? Math.min(1, completed / total) : 0;
  const n = Math.round(f * width);
  return `${'█'.repeat(n)}${'░'.repeat(width - n)} ${String(Math.floor(f * 100)).padStart(3)}% ${humanBytes(completed)}/${humanBytes(total)}`;
}

/** Status lines of create/pull/push: finished steps, then the running one with a spinner or bar. */
export function ProgressView({ state, frame = 0 }: { state: ProgressState; frame?: number }) {
  const cur = state.current;
  return (
    <Box flexDirection="column">
      {state.done.map((s, i) => (
        <Text key={i}>{s}</Text>
      ))}
      {cur && !state.error && (
        <Text>
          {cur.total ? `${cur.status} ${bar(cur.completed ?? 0, cur.total)}` : `${cur.status} ${FRAMES[frame % FRAMES.length]}`}
        </Text>
      )}
      {state.error && <Text color="red">Error: {state.error}</Text>}
    </Box>
  );
}

function step(state: ProgressState, p: ProgressResponse): ProgressState {
  if (state.current && state.current.status !== p.status) return { done: [...state.done, state.current.status], current: p };
  return { ...state, current: p };
}

function LiveProgress({ events, onEnd }: { events: AsyncIterable<ProgressResponse>; onEnd: (e?: unknown) => void }) {
  const [state, setState] = useState<ProgressState>({ done: [] });
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setFrame((f) => f + 1), 100);
    (async () => {
      try {
        for await (const p of events) setState((s) => step(s, p));
        setState((s) => ({ done: s.current ? [...s.done, s.current.status] : s.done }));
        onEnd();
      } catch (e) {
        setState((s) => ({ ...s, error: (e as Error).message }));
        onEnd(e);
      } finally {
        clearInterval(t);
      }
    })();
    return () => clearInterval(t);
  }, []);
  return <ProgressView state={state} frame={frame} />;
}

/**
 * Shows progress events: an Ink view on a terminal, plain lines otherwise (a
 * pipe or a log file gets one line per step, no escape codes). Rejects with the
 * stream's error.
 */
export async function showProgress(events: AsyncIterable<ProgressResponse>, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  if (!out.isTTY) {
    let last = '';
    for await (const p of events) {
      if (p.status !== last) out.write(`${p.status}\n`);
      last = p.status;
    }
    return;
  }
  let failure: unknown;
  const app = render(<LiveProgress events={events} onEnd={(e) => { failure = e; setTimeout(() => app.unmount(), 0); }} />, { stdout: out, exitOnCtrlC: true });
  await app.waitUntilExit();
  if (failure) {
    (failure as Error & { shown?: boolean }).shown = true;
    throw failure;
  }
}
