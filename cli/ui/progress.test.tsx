import React from 'react';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { ProgressView } from './progress.js';

describe('ProgressView', () => {
  it('shows finished steps and the running one with a spinner', () => {
    const { lastFrame } = render(<ProgressView state={{ done: ['parsing GGUF'], current: { status: 'writing manifest' } }} />);
    expect(lastFrame()).toBe('parsing GGUF\nwriting manifest ⠋');
  });

  it('draws a bar with percentage and sizes for a transfer', () => {
    const { lastFrame } = render(
      <ProgressView state={{ done: [], current: { status: 'copying file sha256:ab', total: 4_000_000, completed: 1_000_000 } }} />,
    );
    expect(lastFrame()).toContain('copying file sha256:ab');
    expect(lastFrame()).toContain(' 25% 1 MB/4 MB');
    expect(lastFrame()).toMatch(/█{8}░{22}/);
  });

  it('shows an error in place of the running step', () => {
    const { lastFrame } = render(<ProgressView state={{ done: ['gathering model components'], current: { status: 'x' }, error: 'digest mismatch' }} />);
    expect(lastFrame()).toBe('gathering model components\nError: digest mismatch');
  });
});
