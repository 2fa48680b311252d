/**
 * A closed stdout (`kiln run kjv … | head -c 100`) ends the command quietly,
 * as it does any Unix tool: no stack trace, nothing on stderr, exit 0. What is
 * still running is told (a generation is cancelled) and, should anything keep
 * the process up after that, it exits shortly anyway.
 */
const listeners = new Set<() => void>();
let closed = false;

/** True once a write to stdout has failed because the reader went away. */
export function stdoutClosed(): boolean {
  return closed;
}

/** Calls `f` when stdout is closed under us; returns the undo. */
export function onStdoutClosed(f: () => void): () => void {
  if (closed) {
    f();
    return () => {};
  }
  listeners.add(f);
  return () => listeners.delete(f);
}

export function guardStdout(out: NodeJS.WriteStream = process.stdout): void {
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') {
      process.stderr.write(`Error: stdout: ${e.message}\n`);
      process.exit(1);
    }
    if (closed) return;
    closed = true;
    for (const f of listeners) f();
    listeners.clear();
    process.exitCode = 0;
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
