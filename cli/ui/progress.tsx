import React, { useEffect, useState } from 'react';
import { Box, Text, render } from 'ink';
import type { ProgressResponse } from '../../daemon/api/types.js';
import { humanBytes } from '../format.js';

/**
 * One line of create/pull/push progress. Transfers (events with a digest and
 * a total: `pulling 6a0746a1ec1a`, `pushing …`, `copying file …`) get a line
 * of their own with a bar, size, speed and time left, as Ollama draws them;
 * other statuses are steps, shown with a spinner while they are the latest.
 */
export interface Entry {
  key: string;
  status: string;
  total?: number;
  completed?: number;
  /** Recent (ms, bytes) samples for the speed estimate. */
  samples?: [number, number][];
}

export interface ProgressState {
  entries: Entry[];
  error?: string;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SPEED_WINDOW_MS = 5000;

/** Folds one event into the state (pure; `now` in ms). */
export function reduceProgress(state: ProgressState, p: ProgressResponse, now = Date.now()): ProgressState {
  const transfer = p.total !== undefined && p.total > 0 && p.digest !== undefined;
  const key = transfer ? `${p.status}\u0000${p.digest}` : p.status;
  const entries = state.entries.slice();
  const i = entries.findIndex((e) => e.key === key);
  if (!transfer) {
    if (i < 0) entries.push({ key, status: p.status });
    return { ...state, entries };
  }
  const prev = i >= 0 ? entries[i] : undefined;
  const completed = p.completed ?? 0;
  const samples = [...(prev?.samples ?? []), [now, completed] as [number, number]].filter(([t]) => now - t <= SPEED_WINDOW_MS);
  const entry: Entry = { key, status: p.status, total: p.total, completed, samples };
  if (i >= 0) entries[i] = entry;
  else entries.push(entry);
  return { ...state, entries };
}

/** Bytes per second over the recent window, or undefined before there is a span to measure. */
export function speed(e: Entry): number | undefined {
  const s = e.samples ?? [];
  if (s.length < 2) return undefined;
  const [t0, c0] = s[0];
  const [t1, c1] = s[s.length - 1];
  return t1 > t0 ? ((c1 - c0) * 1000) / (t1 - t0) : undefined;
}

/** Time left in Go's duration style, rounded like Ollama's: `1h2m`, `3m20s`, `45s`. */
export function timeLeft(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

function bar(completed: number, total: number, width = 30): string {
  const f = total > 0 ? Math.min(1, completed / total) : 0;
  const n = Math.round(f * width);
  return `${'█'.repeat(n)}${'░'.repeat(width - n)}`;
}

/** `pulling 6a0746a1ec1a:  25% ▕███░░░▏ 1.1 GB/4.7 GB  45 MB/s  1m20s` */
export function transferLine(e: Entry): string {
  const total = e.total ?? 0;
  const completed = Math.min(e.completed ?? 0, total);
  const pct = String(Math.floor(total > 0 ? (completed / total) * 100 : 0)).padStart(3);
  if (completed >= total) return `${e.status}: ${pct}% ▕${bar(completed, total)}▏ ${humanBytes(total)}`;
  let line = `${e.status}: ${pct}% ▕${bar(completed, total)}▏ ${humanBytes(completed)}/${humanBytes(total)}`;
  const rate = speed(e);
  if (rate !== undefined && rate > 0) line += `  ${humanBytes(rate)}/s  ${timeLeft((total - completed) / rate)}`;
  return line;
}

/** Steps and transfers in order of arrival; the latest step spins until another line follows it. */
export function ProgressView({ state, frame = 0, finished = false }: { state: ProgressState; frame?: number; finished?: boolean }) {
  const last = finished ? -1 : state.entries.length - 1;
  return (
    <Box flexDirection="column">
      {state.entries.map((e, i) => {
        if (e.total !== undefined) return <Text key={e.key}>{transferLine(e)}</Text>;
        if (i === last && !state.error) return <Text key={e.key}>{`${e.status} ${FRAMES[frame % FRAMES.length]}`}</Text>;
        return <Text key={e.key}>{e.status}</Text>;
      })}
      {state.error && <Text color="red">Error: {state.error}</Text>}
    </Box>
  );
}

function LiveProgress({ events, showError, onEnd }: { events: AsyncIterable<ProgressResponse>; showError: boolean; onEnd: (e?: unknown) => void }) {
  const [state, setState] = useState<ProgressState>({ entries: [] });
  const [frame, setFrame] = useState(0);
  const [finished, setFinished] = useState(false);
  useEffect(() => {
    const t = setInterval(() => setFrame((f) => f + 1), 100);
    (async () => {
      try {
        for await (const p of events) setState((s) => reduceProgress(s, p));
        setFinished(true);
        onEnd();
      } catch (e) {
        if (showError) setState((s) => ({ ...s, error: (e as Error).message }));
        else setFinished(true);
        onEnd(e);
      } finally {
        clearInterval(t);
      }
    })();
    return () => clearInterval(t);
  }, []);
  return <ProgressView state={state} frame={frame} finished={finished} />;
}

/**
 * Shows progress events: an Ink view on a terminal, plain lines otherwise (a
 * pipe or a log file gets one line per step, no escape codes: a status is
 * printed when it first appears, however the events of layers that come down
 * side by side interleave). Rejects with the stream's error.
 */
export async function showProgress(
  events: AsyncIterable<ProgressResponse>,
  out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
  opts: { showError?: boolean } = {},
): Promise<void> {
  const showError = opts.showError ?? true;
  if (!out.isTTY) {
    const seen = new Set<string>();
    for await (const p of events) {
      if (seen.has(p.status)) continue;
      seen.add(p.status);
      out.write(`${p.status}\n`);
    }
    return;
  }
  let failure: unknown;
  const app = render(<LiveProgress events={events} showError={showError} onEnd={(e) => { failure = e; setTimeout(() => app.unmount(), 0); }} />, { stdout: out as NodeJS.WriteStream, exitOnCtrlC: true });
  await app.waitUntilExit();
  if (failure) {
    if (showError) (failure as Error & { shown?: boolean }).shown = true;
    throw failure;
  }
}
