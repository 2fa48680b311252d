/**
 * The dependency rule between top-level folders (README, "Layout"):
 *
 *   cli → daemon → (registry, engine) → … , store and kernels below them,
 *   and the leaves common/ and settings/ below everything.
 *
 * Every import, export-from and dynamic import() of every .ts/.tsx file
 * outside tests (bench/, test/ and *.test.ts are exempt) is read with the
 * TypeScript scanner and its target's folder checked against ALLOWED;
 * better-sqlite3 is imported by store/ alone (it owns all SQL).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, ROOT } from './helpers/daemon.js';

/** What each top-level folder may import, besides itself. Anything not listed is refused. */
export const ALLOWED: Record<string, readonly string[]> = {
  cli: ['daemon', 'registry', 'engine', 'store', 'kernels', 'settings', 'common'],
  daemon: ['registry', 'engine', 'store', 'kernels', 'settings', 'common'],
  // registry and engine are siblings: neither imports the other (the daemon
  // reads GGUF headers for push and create, not the registry).
  registry: ['store', 'settings', 'common'],
  engine: ['kernels', 'settings', 'common'],
  store: ['settings', 'common'],
  kernels: ['settings', 'common'],
  // The leaves.
  settings: ['common'],
  common: [],
};

/** Packages only one folder may import: the store owns all SQL. */
export const OWNED_PACKAGES: Record<string, string> = { 'better-sqlite3': 'store' };

/** Folders not held to the rule: benchmarks and the tests' own helpers. */
const EXEMPT = new Set(['bench', 'test', 'node_modules', 'dist', '.git', 'build']);
const isSource = (f: string) => /\.(ts|tsx|mts|cts)$/.test(f) && !/\.d\.ts$/.test(f) && !/\.test\.tsx?$/.test(f);

function* sources(dir: string, root: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (EXEMPT.has(e.name) && dir === root) continue;
      if (e.name === 'node_modules' || e.name === 'build') continue;
      yield* sources(p, root);
    } else if (e.isFile() && isSource(e.name)) yield p;
  }
}

/** The top-level folder a path lies in ('' for a file at the root). */
function topOf(root: string, file: string): string {
  const rel = relative(root, file);
  return rel.includes(sep) ? rel.split(sep)[0] : '';
}

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

/** Every import in the tree under `root` that breaks ALLOWED (or comes from a folder ALLOWED does not list). */
export function layeringViolations(root: string): Violation[] {
  const out: Violation[] = [];
  for (const file of sources(root, root)) {
    const from = topOf(root, file);
    if (from === '') continue; // root config files (vitest.config.ts)
    const allowed = ALLOWED[from];
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      const spec = ref.fileName;
      const rel = relative(root, file);
      if (!spec.startsWith('.')) {
        // node: built-ins and packages; a few packages belong to one folder
        const owner = OWNED_PACKAGES[spec];
        if (owner !== undefined && owner !== from) out.push({ file: rel, imports: spec, rule: `only ${owner}/ may import ${spec}` });
        continue;
      }
      const to = topOf(root, resolve(dirname(file), spec));
      if (to === from) continue;
      if (!allowed) out.push({ file: rel, imports: spec, rule: `${from}/ is not in the layering table` });
      else if (!allowed.includes(to)) out.push({ file: rel, imports: spec, rule: `${from}/ may not import ${to || 'the package root'}/` });
    }
  }
  return out;
}

describe('layering', () => {
  it('no module imports a folder above it', () => {
    expect(layeringViolations(ROOT)).toEqual([]);
  });

  it('the table has no cycle: each folder sits strictly below the folders that may import it', () => {
    const seen = new Set<string>();
    const visit = (n: string, path: string[]): void => {
      expect(path, `cycle ${[...path, n].join(' → ')}`).not.toContain(n);
      if (seen.has(n)) return;
      for (const m of ALLOWED[n] ?? []) visit(m, [...path, n]);
      seen.add(n);
    };
    for (const n of Object.keys(ALLOWED)) visit(n, []);
  });

  describe('catches what it is meant to', () => {
    const home = join(tmpdir(), `kiln-layering-${process.pid}`);
    afterAll(() => cleanup(home));
    const write = (rel: string, text: string) => {
      mkdirSync(dirname(join(home, rel)), { recursive: true });
      writeFileSync(join(home, rel), text);
    };

    it('static, type-only, export-from and dynamic imports upward, and unlisted folders', () => {
      write('daemon/config.ts', 'export const x = 1;\n');
      write('engine/errors.ts', 'export const e = 1;\n');
      write('common/ok.ts', "import { readFileSync } from 'node:fs';\nexport const ok = readFileSync;\n");
      write('store/fine.ts', "import { ok } from '../common/ok.js';\nexport { ok };\n");
      write('registry/a.ts', "import type { x } from '../daemon/config.js';\nexport type X = typeof x;\n");
      write('registry/b.ts', "export { x } from '../daemon/config.js';\n");
      write('kernels/c.ts', "export async function f() {\n  return import('../engine/errors.js');\n}\n");
      write('store/d.ts', "import {\n  e,\n} from '../engine/errors.js';\nexport const d = e;\n");
      write('common/e.ts', "import '../settings/side-effect.js';\n");
      write('newfolder/f.ts', "import { ok } from '../common/ok.js';\nexport { ok };\n");
      write('registry/g.test.ts', "import { x } from '../daemon/config.js';\nexport { x };\n");
      write('registry/sql.ts', "import Database from 'better-sqlite3';\nexport const db = new Database(':memory:');\n");
      write('store/sql.ts', "import Database from 'better-sqlite3';\nexport const db = new Database(':memory:');\n");
      write('test/h.ts', "import { x } from '../daemon/config.js';\nexport { x };\n");
      const found = layeringViolations(home).map((v) => `${v.file} -> ${v.imports}`).sort();
      expect(found).toEqual([
        'common/e.ts -> ../settings/side-effect.js',
        'kernels/c.ts -> ../engine/errors.js',
        'newfolder/f.ts -> ../common/ok.js',
        'registry/a.ts -> ../daemon/config.js',
        'registry/b.ts -> ../daemon/config.js',
        'registry/sql.ts -> better-sqlite3',
        'store/d.ts -> ../engine/errors.js',
      ]);
    });
  });
});
