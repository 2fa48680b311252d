import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { KilnError } from '../common/errors.js';
import { tryLockFile } from '../kernels/index.js';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** The pid a lock holder wrote, or undefined while it has not written it yet. */
function holderPid(fd: number): number | undefined {
  // The holder writes its pid just after taking the lock: give it a moment.
  for (let i = 0; i < 50; i++) {
    const buf = Buffer.alloc(32);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const pid = Number(buf.subarray(0, n).toString('utf8').trim());
    if (n > 0 && Number.isInteger(pid) && pid > 0) return pid;
    Atomics.wait(sleeper, 0, 0, 10);
  }
  return undefined;
}

/** Whether `fd` is still the file at `path` (the holder may have removed it since we opened it). */
function sameFile(fd: number, path: string): boolean {
  const a = fstatSync(fd);
  try {
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * One daemon per KILN_HOME: an exclusive flock(2) on KILN_HOME/kiln.pid,
 * held on an open descriptor for the daemon's life. The kernel releases it
 * when the daemon dies, however it dies, so a file left by a killed daemon
 * is simply locked again: there is no staleness to judge and no takeover to
 * race. Nobody but the holder ever writes or removes the file; a starter
 * that does not get the lock closes its descriptor and touches nothing (not
 * the pid file, not the socket).
 *
 * The holder removes the file on release, before closing (and so unlocking)
 * it. A starter that opened the file just before the removal may then lock
 * the removed file; it sees that the path no longer names what it locked
 * and tries again on a fresh one.
 */
export function acquireLock(path: string): () => void {
  for (let attempt = 0; attempt < 100; attempt++) {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    let held = false;
    try {
      if (!tryLockFile(fd)) {
        const pid = holderPid(fd);
        throw new KilnError(
          'E_ALREADY_RUNNING',
          `kiln is already running on this KILN_HOME (${pid !== undefined ? `pid ${pid}` : 'pid unknown'}); stop it first or set KILN_HOME to another folder`,
        );
      }
      if (!sameFile(fd, path)) continue; // locked a file its holder removed on the way out: again
      ftruncateSync(fd, 0);
      writeSync(fd, String(process.pid), 0);
      held = true;
    } finally {
      if (!held) closeSync(fd);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      try {
        // Only the holder removes it, and only while the path still names the file it locked.
        if (sameFile(fd, path)) unlinkSync(path);
      } catch {
        /* removed by hand meanwhile */
      }
      closeSync(fd);
    };
  }
  throw new KilnError('E_ALREADY_RUNNING', `could not take the lock ${path}`);
}
