/**
 * Matrix–vector throughput against the machine's memory bandwidth, both
 * measured in this run on the same pages (issue 3, DESIGN §7).
 *
 *     npm run build && node dist/bench/matvec.js [--rounds 7] [--set-mib 768] [--types Q4_K,Q6_K] [--threads 1,2]
 *
 * --types takes type names, or `iq` for the formats kiln reads but does not
 * write (MXFP4, the IQ types, TQ1_0/TQ2_0: random blocks with a fixed scale,
 * see weightsFor in kernels/harness.ts; their speed does not depend on the
 * values), e.g. `--types IQ4_XS,IQ2_XS` or `--types Q4_K,iq`.
 *
 * For each type and shape, copies of one random quantized matrix fill a
 * buffer (--set-mib, default 768 MiB: about three times this machine's 260 MB
 * L3) so that a pass of matvec over every copy in turn streams the weights
 * from DRAM, as a model's forward pass does. Each round measures, back to
 * back and for each thread count, a plain native read of the whole buffer
 * (the bandwidth ceiling) and the matvec pass; the table gives medians over
 * the rounds, the fraction median(matvec / read) per round, and the spread
 * (min–max of that fraction) as the measure of noise from the neighbours on
 * this shared machine. "hot" is matvec repeated over one copy (weights in
 * cache: the compute ceiling).
 */
import { selectedVariant, setThreads, threads as poolThreads } from '../kernels/cpu.js';
import { gaussian, MatrixSet, timeMemRead } from '../kernels/harness.js';
import type { QuantType } from '../kernels/quants.js';

/** The read-only formats, in llama.cpp's type-id order. */
const IQ_TYPES: QuantType[] = ['IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS', 'IQ1_M', 'TQ1_0', 'TQ2_0', 'MXFP4'];

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// rows x cols: attention-sized square, FFN up/gate (14336 rows of 4096), FFN down (4096 rows of 14336)
const SHAPES: [number, number][] = [
  [4096, 4096],
  [14336, 4096],
  [4096, 14336],
];

function main(): void {
  const rounds = Number(arg('rounds', '7'));
  const setBytes = Number(arg('set-mib', '768')) * 2 ** 20;
  const types = arg('types', 'Q4_K,Q6_K,Q8_0,Q4_0')
    .split(',')
    .flatMap((t) => (t === 'iq' ? IQ_TYPES : [t as QuantType]));
  const threadCounts = arg('threads', '1,2').split(',').map(Number);
  const before = poolThreads();
  console.log(`kernels: ${selectedVariant()}; weight set ${(setBytes / 2 ** 20).toFixed(0)} MiB per shape; ${rounds} rounds, medians`);
  console.log('type     rows x cols      MB  thr   read GB/s  matvec GB/s  fraction (min-max)   hot GB/s');
  const summary: { key: string; frac: number }[] = [];
  try {
    for (const type of types) {
      for (const [rows, cols] of SHAPES) {
        const set = new MatrixSet(type, rows, cols, setBytes);
        const pass = set.copies * set.bytes;
        const x = gaussian(cols, 8);
        const out = new Float32Array(rows);
        const read: Record<number, number[]> = {};
        const mv: Record<number, number[]> = {};
        const frac: Record<number, number[]> = {};
        const hot: Record<number, number> = {};
        for (const t of threadCounts) {
          read[t] = [];
          mv[t] = [];
          frac[t] = [];
          setThreads(t);
          timeMemRead(set.buf); // fault in, warm the pool
          set.timeColdPass(x, out);
          hot[t] = set.bytes / set.timeHot(x, out, 20) / 1e9;
        }
        for (let r = 0; r < rounds; r++) {
          for (const t of threadCounts) {
            setThreads(t);
            const rs = timeMemRead(set.buf);
            const ms = set.timeColdPass(x, out);
            read[t].push(set.buf.length / rs / 1e9);
            mv[t].push(pass / ms / 1e9);
            frac[t].push(rs / ms);
          }
        }
        for (const t of threadCounts) {
          const f = median(frac[t]);
          summary.push({ key: `${type} ${rows}x${cols} ${t}t`, frac: f });
          console.log(
            `${type.padEnd(8)} ${`${rows} x ${cols}`.padEnd(13)} ${(set.bytes / 1e6).toFixed(1).padStart(5)}  ${String(t).padStart(3)}` +
              `   ${median(read[t]).toFixed(1).padStart(9)}  ${median(mv[t]).toFixed(1).padStart(11)}` +
              `  ${(100 * f).toFixed(0).padStart(6)}% (${(100 * Math.min(...frac[t])).toFixed(0)}-${(100 * Math.max(...frac[t])).toFixed(0)}%)` +
              `   ${hot[t].toFixed(1).padStart(8)}`,
          );
        }
      }
    }
  } finally {
    setThreads(before);
  }
  const two = summary.filter((s) => s.key.endsWith(' 2t'));
  if (two.length) {
    const worst = two.reduce((a, b) => (a.frac < b.frac ? a : b));
    console.log(`2 threads: lowest fraction of read bandwidth ${(100 * worst.frac).toFixed(0)}% (${worst.key}); target 80%`);
  }
}

main();
