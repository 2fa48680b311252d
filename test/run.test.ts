import { execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, kiln, KILN, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { freePort } from './helpers/registry.js';

/** `kiln run`, `kiln ps`, `kiln stop` as a user types them: plain processes, and a real terminal in tmux. */
let d: RunningDaemon;
// A tmux server of our own, so nothing of anyone else's is touched.
const TMUX = ['-L', `kiln-test-${process.pid}`];
let tmuxSocket: string | undefined;

beforeAll(async () => {
  // A pull of a missing model fails at once instead of retrying.
  d = await startDaemon(undefined, { KILN_PULL_RETRIES: '0', KILN_PULL_RETRY_DELAY: '0' });
});

afterAll(async () => {
  try {
    execFileSync('tmux', [...TMUX, 'kill-server'], { stdio: 'ignore' });
  } catch {
    /* no server left */
  }
  // tmux leaves its socket file behind when the last session ends
  if (tmuxSocket) rmSync(tmuxSocket, { force: true });
  await d?.stop();
  if (d) cleanup(d.home);
});

function tmux(...args: string[]): string {
  return execFileSync('tmux', [...TMUX, ...args], { encoding: 'utf8' });
}

const screen = () => tmux('capture-pane', '-p', '-t', 'chat');

async function waitScreen(re: RegExp, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen();
    if (re.test(s)) return s;
    if (Date.now() > end) throw new Error(`screen never matched ${re}:\n${s}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('kiln run, one answer', () => {
  it('answers a prompt argument on stdout with no UI around it', async () => {
    const r = await kiln(['run', 'kjv', 'In the beginning', '--keepalive', '1m'], d.env, { input: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(20);
    expect(r.stdout).not.toMatch(/>>>|\x1b\[/);
    expect(r.stderr).toBe('');
  });

  it('answers piped stdin and prints --verbose stats on stderr', async () => {
    const r = await kiln(['run', 'kjv', '--verbose'], d.env, { input: 'And God said' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().length).toBeGreaterThan(20);
    expect(r.stderr).toMatch(/^total duration:\s+\S+/m);
    expect(r.stderr).toMatch(/^eval rate:\s+[\d.]+ tokens\/s$/m);
    expect(r.stderr).toMatch(/^prompt eval count:\s+\d+ token\(s\)$/m);
  });

  it('shows the model in kiln ps and unloads it with kiln stop', async () => {
    const ps = await kiln(['ps'], d.env);
    expect(ps.stdout).toMatch(/^NAME\s+ID\s+SIZE\s+PROCESSOR\s+CONTEXT\s+UNTIL$/m);
    expect(ps.stdout).toMatch(/^kjv:latest\s+[0-9a-f]{12}\s+\d+ MB\s+100% CPU\s+256\s+\d+ (seconds|minutes) from now$/m);
    expect((await kiln(['stop', 'kjv'], d.env)).code).toBe(0);
    expect((await kiln(['ps'], d.env)).stdout).not.toMatch(/kjv/);
    const again = await kiln(['stop', 'kjv'], d.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/couldn't find model "kjv" to stop/);
  });

  it('ends quietly when stdout is closed (| head -c 100), and the generation stops', async () => {
    // a model that would talk for minutes: the daemon's one slot stays busy unless the request is cancelled
    const dir = tempHome('kiln-mf-');
    writeFileSync(join(dir, 'Modelfile'), 'FROM kjv\nPARAMETER num_predict 1000000\n');
    expect((await kiln(['create', 'talkative', '-f', join(dir, 'Modelfile')], d.env)).code).toBe(0);
    cleanup(dir);
    const p = spawn(process.execPath, [KILN, 'run', 'talkative', 'In the beginning'], { env: d.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let got = 0;
    let stderr = '';
    p.stderr.on('data', (c) => (stderr += c));
    p.stdout.on('data', (c: Buffer) => {
      got += c.length;
      if (got >= 100) p.stdout.destroy(); // what head does once it has its bytes
    });
    const code = await new Promise<number | null>((resolve) => p.on('close', (c) => resolve(c)));
    expect(got).toBeGreaterThanOrEqual(100);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // the slot is free again: a short request is answered at once instead of queueing behind the long one
    const t0 = Date.now();
    const res = await fetch(`${d.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'talkative', prompt: 'And', stream: false, options: { num_predict: 2 } }) });
    expect(res.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await kiln(['rm', 'talkative'], d.env)).code).toBe(0);
  }, 60_000);

  it('says so when the model does not exist anywhere', async () => {
    const r = await kiln(['run', 'localhost:1/nope/nope', 'hi'], d.env, { input: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: model 'localhost:1\/nope\/nope' is not on this machine, and pulling it failed: /m);
  });

  it('says first that the model is not here, then that the registry cannot be reached', async () => {
    const host = `127.0.0.1:${await freePort()}`; // nothing listens there
    const r = await kiln(['run', `${host}/library/m`, 'hi', '--insecure'], d.env, { input: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `Error: model '${host}/library/m' is not on this machine, and pulling it failed: cannot reach the registry ${host}: the connection was refused (ECONNREFUSED); check the network connection and the registry's address\n`,
    );
  });
});

describe('kiln run, interactive in a terminal', () => {
  it('chats: streaming answer, /set, /show, """ blocks, Ctrl+C stops an answer, history, Ctrl+D exits', async () => {
    const env = Object.entries({ KILN_HOME: d.home, KILN_HOST: d.env.KILN_HOST! }).map(([k, v]) => `${k}=${v}`);
    // remain-on-exit: if kiln run dies, its last screen stays for the failure message.
    // CI is unset for the chat: Ink draws nothing live when it sees CI=true, as .ci/run sets it.
    tmux('start-server', ';', 'set-option', '-g', 'remain-on-exit', 'on', ';', 'new-session', '-d', '-s', 'chat', '-x', '100', '-y', '40', 'env', '-u', 'CI', ...env, process.execPath, KILN, 'run', 'kjv');
    tmuxSocket = tmux('display-message', '-p', '#{socket_path}').trim();
    // the first screen waits for node, Ink and the model's runner: slow when CI's other suite shares the 2 cores
    await waitScreen(/>>> .*Send a message \(\/\? for help\)/, 45_000);

    tmux('send-keys', '-t', 'chat', '/set parameter num_predict 12', 'Enter');
    await waitScreen(/Set parameter 'num_predict' to '12'/);
    tmux('send-keys', '-t', 'chat', 'Who art thou?', 'Enter');
    let s = await waitScreen(/>>> Who art thou\?\n(.+\n)+\n?>>> /);
    const answer = s.split('>>> Who art thou?\n')[1].split('>>>')[0].trim();
    expect(answer.length).toBeGreaterThan(5);

    tmux('send-keys', '-t', 'chat', '"""First line', 'Enter');
    await waitScreen(/^\.\.\.\s*$/m);
    tmux('send-keys', '-t', 'chat', 'second line"""', 'Enter');
    await waitScreen(/\.\.\. second line"""\n.+/);

    tmux('send-keys', '-t', 'chat', '/show parameters', 'Enter');
    // the model's parameters, and the one set in this session
    await waitScreen(/^num_ctx\s+256\n(.*\n)*num_predict\s+12$/m);
    tmux('send-keys', '-t', 'chat', '/?', 'Enter');
    await waitScreen(/Use """ to begin a multi-line message\./);

    // A long answer, stopped with Ctrl+C: the prompt comes back and the chat goes on.
    tmux('send-keys', '-t', 'chat', '/set parameter num_predict 100000', 'Enter', '/set parameter num_ctx 4096', 'Enter');
    await waitScreen(/Set parameter 'num_ctx' to '4096'/);
    tmux('send-keys', '-t', 'chat', '/clear', 'Enter');
    await waitScreen(/Cleared session context/);
    tmux('send-keys', '-t', 'chat', 'Tell me everything', 'Enter');
    // the answer has begun streaming (it may open with short or blank lines: kjv samples freely here)
    await waitScreen(/>>> Tell me everything\n(?=[\s\S]*\S)[\s\S]{20,}/);
    const t0 = Date.now();
    tmux('send-keys', '-t', 'chat', 'C-c');
    s = await waitScreen(/>>> Tell me everything\n[\s\S]+>>> .*Send a message/);
    expect(Date.now() - t0).toBeLessThan(3000);
    // at an empty prompt Ctrl+C only says how to leave
    tmux('send-keys', '-t', 'chat', 'C-c');
    await waitScreen(/Use Ctrl \+ d or \/bye to exit\./);

    // history: up brings back the last message
    tmux('send-keys', '-t', 'chat', 'Up');
    await waitScreen(/>>> Tell me everything\s*$/m);
    tmux('send-keys', '-t', 'chat', 'C-u', 'C-d');
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      // The process exited: Ctrl+D ended the chat. (tmux shows the exit status only once it has
      // reaped the process, a moment after the pane is marked dead.)
      const [dead, status] = tmux('display-message', '-p', '-t', 'chat', '#{pane_dead} #{pane_dead_status}').trim().split(' ');
      if (dead === '1') {
        if (status !== undefined) expect(status).toBe('0');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const pane = tmux('display-message', '-p', '-t', 'chat', '#{pane_dead} #{pane_pid}').trim();
    const ps = execFileSync('ps', ['-o', 'pid,stat,wchan:20,args', '-p', pane.split(' ')[1]], { encoding: 'utf8' });
    throw new Error(`kiln run did not exit on Ctrl+D (pane ${pane}):\n${ps}\n${screen()}`);
  }, 120_000);
});
