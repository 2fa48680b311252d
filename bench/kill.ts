/**
 * Kill sweep: SIGKILL the daemon at random instants of a pull, a create (blob
 * upload + create), a quantize and a push, restart it on the same store, and
 * check what it finds there.
 *
 *     npm run build && npx vite-node bench/kill.ts -- [--rounds 20] [--seed N]
 *
 * For each operation one uninterrupted run is timed first (D); each round then
 * starts the operation on a fresh daemon, kills it after U(0, D), restarts,
 * and checks (issue 11's marks):
 *   - `kiln verify` finds the store clean;
 *   - no orphan temp files (`.tmp-*` in the blob folder) after the restart;
 *   - the operation, run again, completes, and leaves no partial download;
 *   - an interrupted pull fetches < 1.1× the bytes still missing when it died
 *     (counted by a proxy in front of the real docker-registry).
 * Prints a line per operation and exits 1 when a mark is missed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { cleanup, kiln, startDaemon, tempHome, type RunningDaemon } from '../test/helpers/daemon.js';
import { proxy, startFaultServer } from '../test/helpers/fault-server.js';
import { putModel, startRegistry, type Registry } from '../test/helpers/registry.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const ROUNDS = arg('rounds', 20);
let seed = arg('seed', 20261203) >>> 0;
/** xorshift32: the kill instants repeat for a seed. */
function random(): number {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
}

const MiB = 1 << 20;
const PULL_SIZE = 96 * MiB;
const KJV_F32 = fileURLToPath(new URL('../models/kjv/kjv-f32.gguf', import.meta.url));
const ENV = { KILN_PULL_CONNECTIONS: '4', KILN_PULL_PART_SIZE: String(4 * MiB), KILN_PULL_RETRY_DELAY: '20', KILN_KEEP_ALIVE: '0' };

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function seedRegistry(reg: Registry): Promise<{ name: string; digest: string }> {
  return { name: 'kill/big:latest', digest: await putModel(reg, 'kill/big', 'latest', randomBytes(PULL_SIZE)) };
}

/** Reads an NDJSON progress stream to its end (or until the daemon dies), calling `each` per object. */
async function drain(res: Response, each: (p: Record<string, unknown>) => void = () => {}): Promise<Record<string, unknown> | undefined> {
  let last: Record<string, unknown> | undefined;
  let buf = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        last = JSON.parse(line);
        each(last!);
      }
    }
  } catch {
    /* the daemon was killed */
  }
  return last;
}

const post = (d: RunningDaemon, path: string, body: unknown) => fetch(`${d.url}${path}`, { method: 'POST', body: JSON.stringify(body) });

interface Op {
  name: string;
  /** Starts the operation; the promise settles when it ends or the daemon dies. */
  run(d: RunningDaemon, round: number): Promise<unknown>;
  /** Returns the store to where the next round starts. */
  undo(d: RunningDaemon, round: number): Promise<void>;
}

function tmpFiles(home: string): string[] {
  const blobs = join(home, 'models', 'blobs');
  return existsSync(blobs) ? readdirSync(blobs).filter((f) => f.startsWith('.tmp-')) : [];
}

function partialFiles(home: string): string[] {
  const dir = join(home, 'models', 'partial');
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function main(): Promise<void> {
  const reg = await startRegistry();
  const pulled = await seedRegistry(reg);
  const front = await startFaultServer(proxy(reg.url, { throttle: () => 48 * MiB }));
  const pullName = `${front.host}/${pulled.name}`;
  const home = tempHome('kiln-kill-');
  const kjv = readFileSync(KJV_F32);
  const kjvDigest = digestOf(kjv);

  let seen = 0; // bytes of the pulled layer that the interrupted pull reported complete
  const ops: Op[] = [
    {
      name: 'pull',
      run: (d) => {
        seen = 0;
        return post(d, '/api/pull', { model: pullName, insecure: true })
          .then((r) => drain(r, (p) => p.digest === pulled.digest && typeof p.completed === 'number' && (seen = Math.max(seen, p.completed))))
          .catch(() => undefined);
      },
      undo: async (d) => {
        await fetch(`${d.url}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: pullName }) });
        await post(d, '/api/prune', {});
      },
    },
    {
      name: 'create',
      run: async (d, round) => {
        try {
          const up = await fetch(`${d.url}/api/blobs/${kjvDigest}`, { method: 'POST', body: Readable.toWeb(Readable.from([kjv])) as ReadableStream, duplex: 'half' } as RequestInit);
          if (up.status >= 300) throw new Error(`upload ${up.status}`);
          return await drain(await post(d, '/api/create', { model: `made${round}`, files: { 'kjv.gguf': kjvDigest } }));
        } catch {
          return undefined;
        }
      },
      undo: async (d, round) => {
        await fetch(`${d.url}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: `made${round}` }) });
        await post(d, '/api/prune', {});
      },
    },
    {
      name: 'quantize',
      run: (d, round) => post(d, '/api/create', { model: `quant${round}`, from: 'kjv', quantize: 'q4_K_M' }).then((r) => drain(r)).catch(() => undefined),
      undo: async (d, round) => {
        await fetch(`${d.url}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: `quant${round}` }) });
        await post(d, '/api/prune', {});
      },
    },
    {
      name: 'push',
      run: async (d, round) => {
        const target = `${reg.host}/kill/push${round}:latest`;
        try {
          await post(d, '/api/copy', { source: 'kjv', destination: target });
          return await drain(await post(d, '/api/push', { model: target, insecure: true }));
        } catch {
          return undefined; // the daemon was killed
        }
      },
      undo: async (d, round) => {
        await fetch(`${d.url}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: `${reg.host}/kill/push${round}:latest` }) });
      },
    },
  ];

  let pass = true;
  const first = await startDaemon(home, ENV);
  await first.stop();
  for (const op of ops) {
    // Calibrate: one whole run.
    const cal = await startDaemon(home, ENV);
    const t0 = performance.now();
    const end = (await op.run(cal, 0)) as Record<string, unknown> | undefined;
    const D = performance.now() - t0;
    if (end?.status !== 'success') throw new Error(`${op.name}: the uninterrupted run ended with ${JSON.stringify(end)}`);
    await op.undo(cal, 0);
    await cal.stop();

    const failures: string[] = [];
    const ratios: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const d = await startDaemon(home, ENV);
      const at = random() * D;
      const running = op.run(d, r);
      await new Promise((res) => setTimeout(res, at));
      d.proc.kill('SIGKILL');
      await new Promise((res) => (d.proc.exitCode !== null || d.proc.signalCode !== null ? res(null) : d.proc.once('exit', res)));
      await running;
      const killedSeen = seen;

      const again = await startDaemon(home, ENV);
      try {
        const orphans = tmpFiles(home);
        if (orphans.length) failures.push(`round ${r} (killed at ${at.toFixed(0)} ms): temp files after restart: ${orphans.join(' ')}`);
        const v = await kiln(['verify'], again.env);
        if (v.code !== 0) failures.push(`round ${r}: kiln verify after restart: ${v.stdout}${v.stderr}`);
        front.blobBytes = 0;
        const end2 = (await op.run(again, r)) as Record<string, unknown> | undefined;
        if (end2?.status !== 'success') failures.push(`round ${r}: the operation run again ended with ${JSON.stringify(end2)}`);
        if (op.name === 'pull') {
          const missing = PULL_SIZE - killedSeen;
          if (front.blobBytes > 0 && missing > 0) {
            const ratio = front.blobBytes / missing;
            ratios.push(ratio);
            if (ratio >= 1.1) failures.push(`round ${r}: resumed pull fetched ${(front.blobBytes / MiB).toFixed(1)} MiB for ${(missing / MiB).toFixed(1)} MiB missing (${ratio.toFixed(3)}x)`);
          }
        }
        if (partialFiles(home).length) failures.push(`round ${r}: partial downloads left after completing: ${partialFiles(home).join(' ')}`);
        const v2 = await kiln(['verify'], again.env);
        if (v2.code !== 0) failures.push(`round ${r}: kiln verify after completing: ${v2.stdout}${v2.stderr}`);
        await op.undo(again, r);
      } finally {
        await again.stop();
      }
    }
    const ratioText = ratios.length ? `; resumed/missing bytes: max ${Math.max(...ratios).toFixed(3)}x, median ${ratios.sort((a, b) => a - b)[Math.floor(ratios.length / 2)].toFixed(3)}x over ${ratios.length} resumes` : '';
    console.log(`${op.name}: ${ROUNDS} kills within ${D.toFixed(0)} ms runs: ${failures.length ? `${failures.length} FAILED` : 'all clean'}${ratioText}`);
    for (const f of failures) console.log(`  ${f}`);
    if (failures.length) pass = false;
  }
  const end = tmpFiles(home).length + partialFiles(home).length;
  console.log(`store at the end: ${end} temp or partial files`);
  await front.stop();
  await reg.stop();
  cleanup(home);
  console.log(pass && end === 0 ? 'kill: PASS' : 'kill: FAIL');
  process.exit(pass && end === 0 ? 0 : 1);
}

await main();
