import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const KILN = join(ROOT, 'dist', 'cli', 'main.js');

export function tempHome(prefix = 'kiln-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface RunningDaemon {
  proc: ChildProcess;
  home: string;
  url: string;
  port: number;
  env: NodeJS.ProcessEnv;
  log: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Environment for a daemon or CLI on a given home: nothing from the user's own kiln leaks in. */
export function kilnEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: home, KILN_HOST: '127.0.0.1:0', ...extra };
  delete env.KILN_MODELS;
  return env;
}

/** Starts `kiln serve` as a child process and waits until it listens (TCP port read from its log). */
export async function startDaemon(home = tempHome(), extra: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  const env = kilnEnv(home, extra);
  const proc = spawn(process.execPath, [KILN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`daemon did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /listening on .* http:\/\/[^\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    proc.stderr!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`daemon exited with ${code}:\n${out}`));
    });
  });
  return {
    proc,
    home,
    port,
    env,
    url: `http://127.0.0.1:${port}`,
    log: () => out,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
      return new Promise((resolve) => {
        proc.once('exit', (code) => resolve(code));
        proc.kill(signal);
      });
    },
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `kiln` binary as a user would. Asynchronous on purpose: a
 * test worker blocked in spawnSync for long misses vitest's 60 s RPC deadline
 * under load ("Timeout calling onTaskUpdate").
 */
export function kiln(args: string[], env: NodeJS.ProcessEnv, opts: { cwd?: string; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KILN, ...args], { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.on('error', () => {}); // a command that exits without reading its input
    child.stdin!.end(opts.input ?? '');
  });
}

export function cleanup(home: string): void {
  rmSync(home, { recursive: true, force: true });
}
