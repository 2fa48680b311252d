/**
 * A fixed-seed sample of the fuzz sweep (bench/fuzz.ts): every target's
 * first inputs for one seed, with zero findings expected. The full sweep runs
 * 10^5 inputs per target; the inputs here are the same ones it starts with.
 *
 * The in-process targets run inline (on the TS sources); the harness's worker
 * mode and its watchdog are checked with targets that crash, loop forever or
 * over-allocate on purpose (they run dist/, like the daemon tests).
 */
import { describe, expect, it } from 'vitest';
import { runJsonTarget } from '../bench/fuzz/json-target.js';
import { runTarget, type Finding } from '../bench/fuzz/runner.js';

const SEED = 20261203;

const show = (fs: Finding[]) => fs.map((f) => `${f.kind} at ${f.index}: ${f.detail}`);

describe('fuzz sample', () => {
  for (const [target, runs] of [['gguf', 600], ['manifest', 1000], ['oci', 300], ['modelfile', 1000], ['template', 600]] as const) {
    it(`${target}: ${runs} mutated inputs, no crash, hang or over-allocation`, async () => {
      const st = await runTarget(target, { seed: SEED, runs, mode: 'inline' });
      expect(show(st.findings)).toEqual([]);
      expect(st.runs).toBe(runs);
      // Neither all rejected nor all accepted: the mutants reach past the first check.
      expect(st.ok).toBeGreaterThan(runs / 50);
      expect(st.rejected).toBeGreaterThan(runs / 5);
    });
  }

  it('json: 300 mutated request bodies to a real daemon, no 5xx, no hang, the daemon up', async () => {
    const st = await runJsonTarget({ seed: SEED, runs: 300 });
    expect(show(st.findings)).toEqual([]);
    expect(st.rejected).toBeGreaterThan(50);
    expect(st.ok).toBeGreaterThan(20);
  }, 120_000);
});

describe('the fuzz harness (worker mode)', () => {
  it('reports a crash, a true infinite loop and an over-allocation, each at its input, and goes on', async () => {
    const crash = await runTarget('selftest-crash', { seed: 1, runs: 6, mode: 'worker' });
    const loop = await runTarget('selftest-hang', { seed: 1, runs: 4, mode: 'worker' });
    const alloc = await runTarget('selftest-alloc', { seed: 1, runs: 6, mode: 'worker' });
    // The selftest targets misbehave on their second seed input ('!') and accept the first.
    for (const st of [crash, loop, alloc]) {
      expect(st.runs).toBe(st.target === 'selftest-hang' ? 4 : 6);
      expect(st.findings.length).toBeGreaterThan(0);
      expect(st.ok + st.findings.length).toBe(st.runs);
    }
    expect(crash.findings.every((f) => f.kind === 'crash' && /TypeError: boom/.test(f.detail))).toBe(true);
    expect(loop.findings.every((f) => f.kind === 'hang' && /worker terminated/.test(f.detail))).toBe(true);
    expect(alloc.findings.every((f) => f.kind === 'alloc' && /new Uint8Array of 268435456 bytes/.test(f.detail))).toBe(true);
    expect(loop.hangs).toBe(loop.findings.length);
  }, 60_000);

  it('sees an over-allocation inline too (the mode the sample above runs in)', async () => {
    const st = await runTarget('selftest-alloc', { seed: 1, runs: 6, mode: 'inline' });
    expect(st.allocs).toBeGreaterThan(0);
    expect(st.allocs + st.ok).toBe(6);
  });
});
