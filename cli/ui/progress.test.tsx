import React from 'react';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { ProgressResponse } from '../../daemon/api/types.js';
import { PassThrough } from 'node:stream';
import { ProgressView, reduceProgress, showProgress, speed, timeLeft, type ProgressState } from './progress.js';

function fold(events: [number, ProgressResponse][]): ProgressState {
  return events.reduce((s, [t, p]) => reduceProgress(s, p, t), { entries: [] } as ProgressState);
}

describe('ProgressView', () => {
  it('shows finished steps and the running one with a spinner', () => {
    const state = fold([
      [0, { status: 'parsing GGUF' }],
      [1, { status: 'writing manifest' }],
    ]);
    expect(render(<ProgressView state={state} />).lastFrame()).toBe('parsing GGUF\nwriting manifest ⠋');
    expect(render(<ProgressView state={state} finished />).lastFrame()).toBe('parsing GGUF\nwriting manifest');
  });

  it('draws a bar with percentage and sizes for a transfer', () => {
    const state = fold([[0, { status: 'copying file sha256:ab', digest: 'sha256:ab', total: 4_000_000, completed: 1_000_000 }]]);
    const frame = render(<ProgressView state={state} />).lastFrame()!;
    expect(frame).toContain('copying file sha256:ab:');
    expect(frame).toContain(' 25% ');
    expect(frame).toContain('1 MB/4 MB');
    expect(frame).toMatch(/▕█{8}░{22}▏/);
  });

  it('gives each layer of a pull its own line with speed and time left, like Ollama', () => {
    const a = 'sha256:6a0746a1ec1a' + '0'.repeat(52);
    const b = 'sha256:4fa551d4f938' + '0'.repeat(52);
    const state = fold([
      [0, { status: 'pulling manifest' }],
      [0, { status: 'pulling 6a0746a1ec1a', digest: a, total: 4_700_000_000, completed: 0 }],
      [0, { status: 'pulling 4fa551d4f938', digest: b, total: 12_000, completed: 12_000 }],
      [2000, { status: 'pulling 6a0746a1ec1a', digest: a, total: 4_700_000_000, completed: 90_000_000 }],
    ]);
    const lines = render(<ProgressView state={state} />).lastFrame()!.split('\n');
    expect(lines[0]).toBe('pulling manifest');
    expect(lines[1]).toMatch(/^pulling 6a0746a1ec1a:   1% ▕█░{29}▏ 90 MB\/4\.7 GB  45 MB\/s  1m42s$/);
    expect(lines[2]).toBe(`pulling 4fa551d4f938: 100% ▕${'█'.repeat(30)}▏ 12 KB`);
    expect(lines).toHaveLength(3);
  });

  it('measures speed over the last few seconds only', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    const s = fold([
      [0, { status: 'pulling aaaaaaaaaaaa', digest: d, total: 1e9, completed: 0 }],
      [1000, { status: 'pulling aaaaaaaaaaaa', digest: d, total: 1e9, completed: 500e6 }],
      [10_000, { status: 'pulling aaaaaaaaaaaa', digest: d, total: 1e9, completed: 510e6 }],
      [11_000, { status: 'pulling aaaaaaaaaaaa', digest: d, total: 1e9, completed: 520e6 }],
    ]);
    expect(speed(s.entries[0])).toBe(10e6);
    expect(timeLeft(3725)).toBe('1h2m');
    expect(timeLeft(59.6)).toBe('1m0s');
  });

  it('shows an error in place of the running step', () => {
    const state = { ...fold([[0, { status: 'gathering model components' }]]), error: 'digest mismatch' };
    expect(render(<ProgressView state={state} />).lastFrame()).toBe('gathering model components\nError: digest mismatch');
  });
});

describe('showProgress without a terminal', () => {
  it('prints one line per status, however the layers of a pull interleave', async () => {
    const events: ProgressResponse[] = [
      { status: 'pulling manifest' },
      { status: 'pulling 700eaf5567c5', digest: 'sha256:700eaf5567c5aa', total: 100, completed: 0 },
      { status: 'pulling 1a2b3c4d5e6f', digest: 'sha256:1a2b3c4d5e6faa', total: 10, completed: 0 },
      { status: 'pulling 700eaf5567c5', digest: 'sha256:700eaf5567c5aa', total: 100, completed: 50 },
      { status: 'pulling 1a2b3c4d5e6f', digest: 'sha256:1a2b3c4d5e6faa', total: 10, completed: 10 },
      { status: 'pulling 700eaf5567c5', digest: 'sha256:700eaf5567c5aa', total: 100, completed: 100 },
      { status: 'verifying sha256 digest' },
      { status: 'writing manifest' },
      { status: 'success' },
    ];
    async function* gen() {
      yield* events;
    }
    let text = '';
    const out = new PassThrough();
    out.on('data', (d) => (text += d));
    await showProgress(gen(), out);
    expect(text).toBe('pulling manifest\npulling 700eaf5567c5\npulling 1a2b3c4d5e6f\nverifying sha256 digest\nwriting manifest\nsuccess\n');
  });
});
