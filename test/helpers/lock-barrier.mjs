/**
 * Preloaded into `kiln serve` by test/lock.test.ts (NODE_OPTIONS=--import):
 * holds the daemon at its first touch of KILN_HOME/kiln.pid until the test
 * says go, so that a crowd of daemons, each of which needs about a second
 * of module loading, reaches the lock within a millisecond of each other
 * instead of spread over seconds. It only delays; the lock code runs as is.
 *
 * KILN_LOCK_BARRIER names a folder: each process writes `arrived-<pid>`
 * there and waits for the file `go`.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';

const dir = process.env.KILN_LOCK_BARRIER;
if (dir) {
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  let held = false;
  const hold = (path) => {
    if (held || typeof path !== 'string' || !path.endsWith('kiln.pid')) return;
    held = true;
    fs.writeFileSync(join(dir, `arrived-${process.pid}`), '');
    const go = join(dir, 'go');
    const until = Date.now() + 60_000;
    while (!fs.existsSync(go) && Date.now() < until) Atomics.wait(sleep, 0, 0, 1);
  };
  for (const name of ['openSync', 'readFileSync', 'rmSync', 'unlinkSync', 'renameSync', 'linkSync', 'writeFileSync']) {
    const real = fs[name];
    fs[name] = function (path, ...rest) {
      hold(path);
      return real.call(this, path, ...rest);
    };
  }
  syncBuiltinESMExports();
}
