/**
 * The fuzz sweep (issue 11): mutated inputs for each input kind kiln parses,
 * classified as ok / rejected (a 4xx KilnError) / crash / hang (> 2 s) /
 * over-allocation. See bench/fuzz/runner.ts for the classification and
 * bench/fuzz/targets.ts, bench/fuzz/json-target.ts for the targets.
 *
 *     npx tsc -p tsconfig.json && npx vite-node bench/fuzz.ts -- [--runs 100000] [--target gguf,oci,...] [--seed 1] [--findings DIR]
 *
 * In-process targets run in a worker thread of the compiled sources (dist/),
 * so build first. The json target starts a real daemon from dist/. Exits 1 on
 * any finding, printing where each failing input was saved.
 */
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runJsonTarget, type JsonStats } from './fuzz/json-target.js';
import { runTarget, type Stats } from './fuzz/runner.js';
import { TARGETS } from './fuzz/targets.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const ALL = [...TARGETS.map((t) => t.name), 'json'];
const runs = Number(arg('runs') ?? 100_000);
const seed = Number(arg('seed') ?? 1);
const targets = (arg('target') ?? ALL.join(',')).split(',').filter(Boolean);
const findingsDir = arg('findings') ?? join(tmpdir(), `kiln-fuzz-findings-${seed}`);
for (const t of targets) if (!ALL.includes(t) && !t.startsWith('selftest-')) throw new Error(`unknown target ${t} (have ${ALL.join(', ')})`);

const row = (s: Stats) =>
  [s.target.padEnd(10), String(s.runs).padStart(7), String(s.ok).padStart(7), String(s.rejected).padStart(8), String(s.crashes).padStart(7), String(s.hangs).padStart(5),
    String(s.allocs).padStart(6), s.maxMs.toFixed(1).padStart(8), Math.round(s.runs / (s.elapsedMs / 1000)).toString().padStart(9), (s.elapsedMs / 1000).toFixed(1).padStart(7)].join(' ');
const HEAD = ['target'.padEnd(10), '   runs', '     ok', 'rejected', 'crashes', 'hangs', 'allocs', '  max ms', 'inputs/s', '      s'].join(' ');

const started = performance.now();
const all: Stats[] = [];
console.log(`fuzz: ${runs} inputs per target, seed ${seed}, targets ${targets.join(', ')}`);
for (const target of targets) {
  const onProgress = (n: number) => process.stderr.write(`\r  ${target}: ${n}/${runs}   `);
  const st = target === 'json' ? await runJsonTarget({ seed, runs, findingsDir, onProgress }) : await runTarget(target, { seed, runs, mode: 'worker', findingsDir, onProgress });
  process.stderr.write('\r');
  all.push(st);
  console.log(HEAD);
  console.log(row(st));
  for (const f of st.findings.slice(0, 20)) console.log(`  ${f.kind} at input ${f.index}: ${f.detail.slice(0, 300)}${f.path ? `\n    saved: ${f.path}` : ''}`);
  console.log(`  slowest: input ${st.maxAt} (${st.maxMs.toFixed(1)} ms)`);
  if ('rssBefore' in st) {
    const j = st as JsonStats;
    console.log(`  daemon RSS ${(j.rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(j.rssAfter / 2 ** 20).toFixed(0)} MiB after; statuses ${JSON.stringify(j.statuses)}; slow because the body asked for a long generation: ${j.slowByRequest}`);
  }
  if (st.findings.length > 20) console.log(`  ... ${st.findings.length - 20} more in ${findingsDir}`);
}
console.log('\nsummary (max ms: the slowest input, whose index is given per target below)');
console.log(HEAD);
for (const s of all) console.log(row(s));
const findings = all.reduce((n, s) => n + s.crashes + s.hangs + s.allocs, 0);
console.log(`elapsed ${((performance.now() - started) / 1000).toFixed(1)} s; ${findings} finding(s)${findings ? `; inputs saved in ${findingsDir}` : ''}`);
process.exit(findings ? 1 : 0);
