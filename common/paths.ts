import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The package root (the folder with package.json). Code runs both compiled from
 * dist/ and from source under vitest, so walk up instead of assuming a depth.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('kiln: cannot find the package root (package.json with migrations/)');
    dir = up;
  }
}
