import type { Config } from '../../daemon/config.js';
import { startDaemon, type Daemon } from '../../daemon/server.js';

function log(m: string): void {
  process.stderr.write(`${new Date().toISOString()} ${m}\n`);
}

/** `kiln serve`: runs the daemon until SIGINT/SIGTERM, then shuts down cleanly. */
export async function serve(config: Config): Promise<number> {
  // Handlers go in before the daemon announces itself: a signal that lands
  // during start-up still gets a clean shutdown instead of the default kill.
  let signalled: string | undefined;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((r) => (wake = r));
  const onSignal = (sig: string) => {
    if (signalled) return;
    signalled = sig;
    wake();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const daemon: Daemon = await startDaemon(config, log);
  await stopped;
  log(`${signalled}: shutting down`);
  try {
    await daemon.close();
    return 0;
  } catch (e) {
    log(`shutdown failed: ${(e as Error).message}`);
    return 1;
  }
}
