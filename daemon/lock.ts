import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { KilnError } from '../engine/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One daemon per KILN_HOME: a pid file created with O_EXCL. A file left by a
 * killed daemon names a dead pid and is taken over; a live one is refused.
 */
export function acquireLock(path: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, { force: true });
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = NaN;
      try {
        pid = Number(readFileSync(path, 'utf8').trim());
      } catch {
        /* vanished between open and read: retry */
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new KilnError('E_ALREADY_RUNNING', `kiln is already running on this KILN_HOME (pid ${pid}); stop it first or set KILN_HOME to another folder`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new KilnError('E_ALREADY_RUNNING', `could not take the lock ${path}`);
}
