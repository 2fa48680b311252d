import { mkdirSync, chmodSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { KilnError } from '../common/errors.js';
import { createApp } from './app.js';
import { checkExposure } from './auth.js';
import { debugLogger, debugRunnerStart, logSettings } from './debug.js';
import type { Config } from './config.js';
import { openStreams } from './http.js';
import { acquireLock } from './lock.js';
import { importDemoModel } from './services/demo.js';
import { registryContext } from './services/registry.js';
import { Store } from '../store/index.js';
import { kilnVersion } from './version.js';
import { Runner } from './runner/runner.js';
import { Scheduler } from './scheduler/scheduler.js';
import { parseKeepAlive } from './scheduler/keep-alive.js';
import { availableMemory } from './scheduler/memory.js';
import { deviceFigures } from './services/fit.js';

export interface Daemon {
  store: Store;
  tcpAddress: { address: string; port: number };
  close(): Promise<void>;
}

function listen(server: Server, target: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' && 'port' in target) {
        reject(new KilnError('E_ALREADY_RUNNING', `address ${target.host}:${target.port} is already in use (another kiln or Ollama?); set KILN_HOST to another address`));
      } else reject(e);
    };
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if ('path' in target) {
      // The socket is the CLI's door and has no auth: only this user may open it.
      const old = process.umask(0o177);
      try {
        server.listen(target.path, done);
      } finally {
        process.umask(old);
      }
    } else server.listen(target.port, target.host, done);
  });
}

/** Starts the daemon: lock, store (migrated, recovered), both listeners. */
export async function startDaemon(config: Config, log: (m: string) => void = (m) => console.error(m)): Promise<Daemon> {
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  const release = acquireLock(join(config.home, 'kiln.pid'));
  let store: Store | undefined;
  let scheduler: Scheduler | undefined;
  const servers: Server[] = [];
  const cleanup = async () => {
    for (const ac of openStreams) ac.abort();
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.close(() => r());
            s.closeAllConnections?.();
          }),
      ),
    );
    await scheduler?.close();
    store?.close();
    rmSync(config.socketPath, { force: true });
    release();
  };
  try {
    store = new Store(config.dbPath, config.models);
    const rec = store.blobs.recover();
    if (rec.removedTemp) log(`removed ${rec.removedTemp} unfinished blob file(s) left by an earlier run`);
    if (rec.adopted) log(`recorded ${rec.adopted} complete blob file(s) left by an earlier run`);
    const reg = await registryContext({ store, config, log }).downloader.recover();
    if (reg.corrupt.length) log(`quarantined ${reg.corrupt.length} blob(s) torn by a reboot before they were synced: ${reg.corrupt.join(', ')}`);
    for (const name of store.models.broken()) log(`warning: model ${name} names a blob that is missing on disk; pull or create it again`);
    if (config.demoModel) await importDemoModel(store, log).catch((e) => log(`could not import the demo model: ${(e as Error).message}`));

    checkExposure(config, store); // no key and a non-loopback address: refuse (KILN_ALLOW_OPEN overrides)
    parseKeepAlive(config.keepAlive, 'KILN_KEEP_ALIVE'); // a bad setting fails the start, not every request
    const debug = debugLogger(config.debug, log);
    if (debug) logSettings(debug);
    const startRunner = (spec: Parameters<typeof Runner.start>[0]) => Runner.start(spec, log);
    scheduler = new Scheduler({
      numParallel: config.numParallel,
      // default: a tenth of the memory available at start, at most 4 GiB
      promptCacheBytes: config.promptCache >= 0 ? config.promptCache : Math.min(Math.floor(availableMemory() / 10), 4 * 1024 ** 3),
      maxLoadedModels: config.maxLoadedModels,
      maxQueue: config.maxQueue,
      startRunner: debug ? debugRunnerStart(debug, startRunner) : startRunner,
      availableMemory,
      maxMemory: config.maxMemory,
      deviceFigures,
      log,
    });
    const deps = { config, store, scheduler, log, debug };
    const unix = createAdaptorServer({ fetch: createApp(deps, 'unix').fetch }) as Server;
    const tcp = createAdaptorServer({ fetch: createApp(deps, 'tcp').fetch }) as Server;
    servers.push(unix, tcp);
    rmSync(config.socketPath, { force: true }); // stale: we hold the lock
    await listen(unix, { path: config.socketPath });
    chmodSync(config.socketPath, 0o600);
    await listen(tcp, { host: config.host.hostname, port: config.host.port });
    const addr = tcp.address();
    const tcpAddress = typeof addr === 'object' && addr ? { address: addr.address, port: addr.port } : { address: config.host.hostname, port: config.host.port };
    log(`kiln ${kilnVersion()} listening on ${config.socketPath} and http://${tcpAddress.address.includes(':') ? `[${tcpAddress.address}]` : tcpAddress.address}:${tcpAddress.port} (store ${config.home})`);
    return { store, tcpAddress, close: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
