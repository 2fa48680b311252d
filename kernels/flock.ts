/**
 * An exclusive flock(2) on an open file descriptor, released by the kernel
 * when the descriptor is closed or its process dies.
 */
import { call, native } from './native.js';

/** Takes the lock without waiting: true if taken, false if another open file holds it. */
export function tryLockFile(fd: number): boolean {
  return call(() => native().tryLockFile(fd));
}
