import { KilnError } from '../../common/errors.js';
import { readGGUFFile, type GGUFFile } from '../gguf/reader.js';
import { ggmlTypeName, gv } from '../gguf/types.js';
import type { GGUFValue } from '../gguf/types.js';
import { writeGGUF } from '../gguf/writer.js';
import { dequantize, hasPlainQuantizer, mapFile, quantize, rowSize } from '../../kernels/index.js';
import { MIXES, planQuantization, tensorNeedsImatrix, type MixName, type TensorPlan } from './policy.js';

const FLOAT = new Set([0, 1, 30]);

export interface QuantizeProgress {
  /** Tensors finished / total. */
  done: number;
  total: number;
  /** Weight bytes of the input read so far / in all. */
  bytesDone: number;
  bytesTotal: number;
  tensor: string;
}

export interface QuantizeResult {
  plan: TensorPlan[];
  inputBytes: number;
  outputBytes: number;
  seconds: number;
}

/**
 * Refuses a source whose weights are already quantized: requantizing
 * compounds the error (and a quality ladder against it would measure the
 * wrong thing).
 */
export function assertFloatSource(file: GGUFFile, plan: TensorPlan[], path: string): void {
  const already = plan.filter((p) => !FLOAT.has(p.from));
  if (!already.length) return;
  const ft = file.kv.get('general.file_type');
  throw new KilnError(
    'E_BAD_REQUEST',
    `${path} is already quantized (${already.length} tensors such as ${already[0].name} are ${ggmlTypeName(already[0].from)}${ft ? `, file type ${String(ft.value)}` : ''}); quantize from the F32, F16 or BF16 file instead`,
  );
}

/**
 * Whether a tensor gets its type's plain quantizer (kernels/src/ref/kplain.h,
 * llama.cpp's own algorithm without an imatrix) rather than the weighted
 * search: at Q3_K/Q4_K without an importance entry, the embedding table
 * (looked up, not multiplied) and the matrices that read the normed hidden
 * state (attn_q, attn_k, ffn_gate, ffn_up). Measured on kjv (issue 17, 91
 * windows of held-out plus sampled text, kiln/llama.cpp KLD): the weighted
 * search everywhere gave q3_K_M 1.054x, q3_K_L 1.046x, q4_K_S 1.048x; plain
 * everywhere 0.993x/0.984x/0.968x but q2_K 1.125x and q3_K_S 1.009x (the
 * search still wins on attn_v, attn_output and ffn_down); this split gave
 * 0.988x/0.984x/0.985x, q3_K_S 0.948x, q4_K_M 0.984x, q2_K unchanged.
 */
export function usePlain(name: string, type: number, hasImportance: boolean): boolean {
  if (hasImportance || !hasPlainQuantizer(type)) return false;
  return PLAIN_TENSOR.test(name);
}

const PLAIN_TENSOR = /^((per_layer_)?token_embd\.weight|blk\.\d+\.(attn_q|attn_k|ffn_gate|ffn_up)(_exps)?\.weight)$/;

/** Rows quantized per native call: big enough to amortise the call, small enough to stream. */
const CHUNK_VALUES = 1 << 20;

/**
 * Quantizes a GGUF file to a mix (`kiln quantize IN OUT TYPE`). The input is
 * mmapped; each tensor is converted to f32 a chunk of rows at a time and
 * written straight to the output, so memory stays flat whatever the model's
 * size. Only float (F32/F16/BF16) inputs are accepted: requantizing an
 * already-quantized file compounds the error, so it is refused.
 */
export interface QuantizeOptions {
  /**
   * Importance per weight name (imatrix.ts `importance`: ncols values, or
   * ncols per expert for a 3-D expert tensor). A weight without an entry is
   * quantized as without an imatrix.
   */
  imatrix?: Map<string, Float32Array>;
}

/**
 * Refuses a plan with a tensor that llama.cpp will not quantize without an
 * importance matrix (policy.ts NEEDS_IMATRIX) when there is none for it.
 */
export function refuseWithoutImatrix(plan: TensorPlan[], mix: MixName, imatrix?: Map<string, Float32Array>): void {
  const bare = plan.find((p) => tensorNeedsImatrix(p) && !imatrix?.get(p.name));
  if (!bare) return;
  throw new KilnError(
    'E_BAD_REQUEST',
    `${mix.toUpperCase()} needs an importance matrix: ${bare.name} would be ${ggmlTypeName(bare.to)}, which is too coarse without one. ` +
      `Make one with \`kiln imatrix MODEL TEXT -o FILE\` (calibration text of a few thousand tokens) and pass it with --imatrix FILE` +
      (imatrix ? ` (the given imatrix has no entry for ${bare.name})` : ''),
  );
}

export async function quantizeFile(
  inPath: string,
  outPath: string,
  mix: MixName,
  onProgress: (p: QuantizeProgress) => void = () => {},
  opts: QuantizeOptions = {},
): Promise<QuantizeResult> {
  const started = performance.now();
  const file = await readGGUFFile(inPath);
  const plan = planQuantization(file, mix, { imatrix: opts.imatrix !== undefined });
  refuseWithoutImatrix(plan, mix, opts.imatrix);
  for (const p of plan) {
    const imp = opts.imatrix?.get(p.name);
    if (!imp || p.to === p.from) continue;
    const nmat = p.dims.length > 2 ? p.dims.slice(2).reduce((a, b) => a * b, 1) : 1;
    if (imp.length !== p.dims[0] * nmat) {
      throw new KilnError('E_BAD_REQUEST', `the imatrix entry of ${p.name} has ${imp.length} values; the tensor needs ${p.dims[0] * nmat} (is the imatrix for another model?)`);
    }
  }
  assertFloatSource(file, plan, inPath);
  const kv = new Map<string, GGUFValue>(file.kv);
  kv.set('general.quantization_version', gv.u32(2));
  kv.set('general.file_type', gv.u32(MIXES[mix].fileType));

  const map = mapFile(inPath);
  try {
    const byName = new Map(file.tensors.map((t) => [t.name, t]));
    const bytesTotal = file.tensors.reduce((s, t) => s + t.byteSize, 0);
    let bytesDone = 0;
    let done = 0;
    const tensors = plan.map((p) => {
      const info = byName.get(p.name)!;
      const src = map.bytes.subarray(info.absOffset, info.absOffset + info.byteSize);
      const ncols = p.dims[0];
      const nrows = p.dims.slice(1).reduce((a, b) => a * b, 1);
      return {
        name: p.name,
        dims: p.dims,
        type: p.to,
        data:
          p.to === p.from
            ? async function* () {
                yield src;
                bytesDone += info.byteSize;
                onProgress({ done: ++done, total: plan.length, bytesDone, bytesTotal, tensor: p.name });
              }
            : async function* () {
                const rowsPerChunk = Math.max(1, Math.floor(CHUNK_VALUES / ncols));
                const inRow = rowSize(p.from, ncols);
                const imp = opts.imatrix?.get(p.name);
                const plain = usePlain(p.name, p.to, imp !== undefined);
                // an expert tensor has one importance vector per expert (dims[1] rows each): chunks stay within one
                const rowsPerMat = imp && imp.length > ncols ? p.dims[1] : nrows;
                for (let r = 0; r < nrows; ) {
                  const n = Math.min(rowsPerChunk, nrows - r, rowsPerMat - (r % rowsPerMat));
                  const raw = src.subarray(r * inRow, (r + n) * inRow);
                  const f32 = p.from === 0 && raw.byteOffset % 4 === 0 ? new Float32Array(raw.buffer, raw.byteOffset, n * ncols) : dequantize(p.from, raw, n * ncols);
                  const mat = Math.floor(r / rowsPerMat);
                  yield quantize(p.to, f32, n, ncols, undefined, imp?.subarray(mat * ncols, (mat + 1) * ncols), plain);
                  r += n;
                  bytesDone += raw.byteLength;
                  // yield to the event loop now and then so progress can be drawn
                  await new Promise((res) => setImmediate(res));
                  onProgress({ done, total: plan.length, bytesDone, bytesTotal, tensor: p.name });
                }
                onProgress({ done: ++done, total: plan.length, bytesDone, bytesTotal, tensor: p.name });
              },
      };
    });
    const layout = await writeGGUF(outPath, { kv, tensors, alignment: file.alignment });
    return { plan, inputBytes: file.fileSize, outputBytes: layout.fileSize, seconds: (performance.now() - started) / 1000 };
  } finally {
    map.unmap();
  }
}
