import type { Config } from '../../daemon/config.js';
import { startDaemon } from '../../daemon/server.js';

function log(m: string): void {
  process.stderr.write(`${new Date().toISOString()} ${m}\n`);
}

/** `kiln serve`: runs the daemon until SIGINT/SIGTERM, then shuts down cleanly. */
export async function serve(config: Config): Promise<number> {
  const daemon = await startDaemon(config, log);
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log(`${sig}: shutting down`);
      daemon.close().then(
        () => resolve(0),
        (e) => {
          log(`shutdown failed: ${(e as Error).message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
