import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanup, KILN, kilnEnv, ROOT, tempHome } from './helpers/daemon.js';

/**
 * One daemon per KILN_HOME, under a crowd: N `kiln serve` (the compiled CLI)
 * start at once on one home that holds a stale pid file (a dead pid, as a
 * killed daemon leaves it), ROUNDS times over. Each round exactly one stays
 * up, its socket intact and answering; every other one exits saying kiln is
 * already running, and touches nothing it does not own.
 *
 * Each daemon spends about a second loading its modules, so left alone they
 * would reach the lock spread over seconds and hardly ever race. The
 * preload test/helpers/lock-barrier.mjs holds each one at its first touch of
 * kiln.pid until all N are there, then lets them go together.
 */
const ROUNDS = Number(process.env.KILN_LOCK_ROUNDS ?? 10);
const N = Number(process.env.KILN_LOCK_CROWD ?? 20);

const ROUND_LIMIT_MS = 60_000;

type Outcome = { proc: ChildProcess; listening: boolean; code: number | null; out: string };

/** Resolves when the process listens (the winner) or exits (a loser), or at the round's limit (neither). */
function serve(env: NodeJS.ProcessEnv): Promise<Outcome> {
  const proc = spawn(process.execPath, [KILN, 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  return new Promise((resolve) => {
    const limit = setTimeout(() => resolve({ proc, listening: false, code: null, out: `${out}(neither listening nor exited after ${ROUND_LIMIT_MS} ms)` }), ROUND_LIMIT_MS);
    proc.stderr!.on('data', (d) => {
      out += d;
      if (/ listening on /.test(out)) {
        clearTimeout(limit);
        resolve({ proc, listening: true, code: null, out });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(limit);
      resolve({ proc, listening: false, code, out });
    });
  });
}

/** Whether the daemon's socket accepts a connection and answers /api/version. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    let got = '';
    s.on('connect', () => s.write('GET /api/version HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n'));
    s.on('data', (d) => (got += d));
    s.on('end', () => resolve(/^HTTP\/1\.1 200/.test(got) && got.includes('"version"')));
    s.on('error', () => resolve(false));
  });
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

describe('kiln serve lock', () => {
  it(`lets exactly one of ${N} simultaneous daemons take a stale lock, ${ROUNDS} rounds`, async () => {
    const home = tempHome();
    const barrier = join(home, 'barrier');
    const env = kilnEnv(home, {
      KILN_DEMO_MODEL: '0',
      KILN_LOCK_BARRIER: barrier,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${pathToFileURL(join(ROOT, 'test', 'helpers', 'lock-barrier.mjs')).href}`,
    });
    const socketPath = join(home, 'kiln.sock');
    const t0 = performance.now();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const dead = spawnSync(process.execPath, ['-e', '']).pid;
        writeFileSync(join(home, 'kiln.pid'), String(dead));
        rmSync(barrier, { recursive: true, force: true });
        mkdirSync(barrier);
        const t = performance.now();
        const started = Array.from({ length: N }, () => serve(env));
        // all of them at the lock (or gone early, which the checks below report), then go
        const until = Date.now() + ROUND_LIMIT_MS;
        while (readdirSync(barrier).length < N && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
        writeFileSync(join(barrier, 'go'), '');
        const outcomes = await Promise.all(started);
        console.log(`round ${round}: ${((performance.now() - t) / 1000).toFixed(1)} s, ${outcomes.filter((o) => o.listening).length} listening`);
        try {
          const winners = outcomes.filter((o) => o.listening);
          const losers = outcomes.filter((o) => !o.listening);
          expect(winners.map((w) => w.out), `round ${round}`).toHaveLength(1);
          for (const l of losers) {
            expect(l.code, l.out).toBe(1);
            expect(l.out).toMatch(/kiln is already running on this KILN_HOME/);
          }
          // every loser has exited; the winner's socket is still there and answers
          expect(await answers(socketPath), `round ${round}: the winner's socket answers`).toBe(true);
          expect(winners[0].proc.exitCode).toBeNull();
        } finally {
          await Promise.all(outcomes.map((o) => stop(o.proc)));
        }
      }
    } finally {
      cleanup(home);
    }
    console.log(`${ROUNDS} rounds of ${N} daemons: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }, 600_000);
});
