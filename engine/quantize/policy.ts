import { KilnError } from '../../common/errors.js';
import { kvNumber } from '../gguf/metadata.js';
import type { GGUFFile } from '../gguf/reader.js';
import { ggmlTypeInfo, ggmlTypeName } from '../gguf/types.js';

/**
 * The quantization mixes `kiln quantize` offers: the file type it records and
 * the base tensor type. Which tensors get more bits is decided tensor by tensor
 * in `planQuantization`, following the choices llama.cpp's quantizer makes so
 * that a kiln Q4_K_M file has the same tensor types as llama.cpp's.
 */
export const MIXES = {
  f32: { fileType: 0, base: 0 },
  f16: { fileType: 1, base: 1 },
  bf16: { fileType: 32, base: 30 },
  q4_0: { fileType: 2, base: 2 },
  q4_1: { fileType: 3, base: 3 },
  q5_0: { fileType: 8, base: 6 },
  q5_1: { fileType: 9, base: 7 },
  q8_0: { fileType: 7, base: 8 },
  q2_K: { fileType: 10, base: 10 },
  q3_K_S: { fileType: 11, base: 11 },
  q3_K_M: { fileType: 12, base: 11 },
  q3_K_L: { fileType: 13, base: 11 },
  q4_K_S: { fileType: 14, base: 12 },
  q4_K_M: { fileType: 15, base: 12 },
  q5_K_S: { fileType: 16, base: 13 },
  q5_K_M: { fileType: 17, base: 13 },
  q6_K: { fileType: 18, base: 14 },
  iq4_nl: { fileType: 25, base: 20 },
  iq4_xs: { fileType: 30, base: 23 },
  iq3_xxs: { fileType: 23, base: 18 },
  iq3_xs: { fileType: 22, base: 21 },
  iq3_s: { fileType: 26, base: 21 },
  iq3_m: { fileType: 27, base: 21 },
  iq2_xxs: { fileType: 19, base: 16 },
  iq2_xs: { fileType: 20, base: 17 },
  iq2_s: { fileType: 28, base: 17 },
  iq2_m: { fileType: 29, base: 22 },
  iq1_s: { fileType: 24, base: 19 },
} as const;

export type MixName = keyof typeof MIXES;

const T = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14,
  IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23, IQ1_M: 29, BF16: 30,
} as const;

/**
 * The tensor types llama.cpp will not write without an importance matrix
 * (below about 3 bits a weight, the error of an unweighted search ruins the
 * model); the token embedding and the output matrix are exempt.
 */
export const NEEDS_IMATRIX = new Set<number>([T.IQ3_XXS, T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ1_S, T.IQ1_M]);

/** Whether a planned tensor needs an importance matrix (see NEEDS_IMATRIX). */
export function tensorNeedsImatrix(p: TensorPlan): boolean {
  return p.to !== p.from && NEEDS_IMATRIX.has(p.to) && p.name !== 'token_embd.weight' && p.name !== 'output.weight';
}
const FLOAT_TYPES = new Set<number>([T.F32, T.F16, T.BF16]);

/** Case-insensitive lookup: `Q4_K_M`, `q4_k_m` and `q4_K_M` all name the same mix. */
export function parseMix(s: string): MixName {
  const hit = (Object.keys(MIXES) as MixName[]).find((k) => k.toLowerCase() === s.trim().toLowerCase());
  if (!hit) throw new KilnError('E_BAD_REQUEST', `unsupported quantization type '${s}'; use one of ${Object.keys(MIXES).join(', ')}`);
  return hit;
}

type Category = 'output' | 'token_embd' | 'attn_v' | 'attn_k' | 'attn_q' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'other';

function category(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  // a fused qkv (or MLA kv_b) carries the values: it is treated as attn_v
  if (name.includes('attn_qkv.weight') || name.includes('attn_kv_b.weight') || name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

/** Only ≥2-D `*weight` matrices are quantized: norms, position tables, router weights stay as they are. */
export function quantizable(name: string, dims: number[]): boolean {
  // ggml counts dimensions up to the last one above 1: a [n, 1] tensor is a vector
  let n = dims.length;
  while (n > 1 && dims[n - 1] === 1) n--;
  if (n < 2) return false;
  if (!name.endsWith('weight')) return false;
  if (name.includes('_norm.weight')) return false;
  if (name.includes('ffn_gate_inp.weight')) return false;
  if (name === 'position_embd.weight' || name === 'token_types.weight') return false;
  if (name.includes('ssm_conv1d')) return false;
  return true;
}

/** The layers that get more bits in the M mixes: the first and last eighth, and every third one between. */
export function useMoreBits(i: number, n: number): boolean {
  return i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
}

/**
 * Tensor order for counting: by layer number (tensors outside a layer first),
 * then by name — the order llama.cpp walks a model in, which matters because
 * the attn_v/ffn_down rules count tensors as they go.
 */
export function tensorOrder(a: string, b: string): number {
  const la = /^blk\.(\d+)\./.exec(a)?.[1];
  const lb = /^blk\.(\d+)\./.exec(b)?.[1];
  const na = la === undefined ? -1 : Number(la);
  const nb = lb === undefined ? -1 : Number(lb);
  if (na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface ModelShape {
  arch: string;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nExpert: number;
  tiedEmbeddings: boolean;
}

export function modelShape(file: GGUFFile): ModelShape {
  const kv = (k: string) => kvNumber(file, k);
  const arch = String(file.kv.get('general.architecture')?.value ?? '');
  const nHead = kv(`${arch}.attention.head_count`) ?? 1;
  return {
    arch,
    nLayer: kv(`${arch}.block_count`) ?? 0,
    nHead,
    nHeadKv: kv(`${arch}.attention.head_count_kv`) ?? nHead,
    nExpert: kv(`${arch}.expert_count`) ?? 0,
    tiedEmbeddings: !file.tensors.some((t) => t.name === 'output.weight'),
  };
}

/** A 256-block type on a row that is not a multiple of 256 falls back to a 32-block type; F16 if even that does not fit. */
function fallback(type: number, rowLength: number): number {
  const block = ggmlTypeInfo(type)!.blockSize;
  if (rowLength % block === 0) return type;
  const to: Record<number, number> = { [T.Q2_K]: T.Q4_0, [T.Q3_K]: T.Q4_0, [T.Q4_K]: T.Q5_0, [T.Q5_K]: T.Q5_1, [T.Q6_K]: T.Q8_0 };
  for (const iq of [T.IQ1_S, T.IQ1_M, T.IQ2_XXS, T.IQ2_XS, T.IQ2_S, T.IQ3_XXS, T.IQ3_S, T.IQ4_XS]) to[iq] = T.IQ4_NL;
  const next = to[type] ?? type;
  return rowLength % ggmlTypeInfo(next)!.blockSize === 0 ? next : T.F16;
}

export interface TensorPlan {
  name: string;
  dims: number[];
  from: number;
  to: number;
}

export interface PlanOptions {
  /** An importance matrix will be used: llama.cpp's mixes differ for some types (IQ4_NL/IQ4_XS keep ffn_down at the base type). */
  imatrix?: boolean;
}

/**
 * Chooses the type of every tensor for a mix. Returns the plan in the file's
 * own tensor order.
 */
export function planQuantization(file: GGUFFile, mix: MixName, opts: PlanOptions = {}): TensorPlan[] {
  const { base } = MIXES[mix];
  const shape = modelShape(file);
  const gqa = shape.nHeadKv > 0 ? shape.nHead / shape.nHeadKv : 1;
  const is70B = shape.arch === 'llama' && shape.nLayer === 80 && shape.nHead !== shape.nHeadKv;
  const nAttnV = file.tensors.filter((t) => category(t.name) === 'attn_v').length;
  const nLayer = shape.nLayer;
  const nFfnDown = file.tensors.filter((t) => category(t.name) === 'ffn_down').length;
  const iq4 = mix === 'iq4_nl' || mix === 'iq4_xs';
  // llama.cpp's lowest-bit file types have their own rules for every tensor
  const low = (['iq2_xxs', 'iq2_xs', 'iq2_s', 'iq2_m', 'iq1_s', 'iq1_m'] as string[]).includes(mix);
  const ms: string = mix;
  const iq2sm = ms === 'iq2_s' || ms === 'iq2_m';
  const iq1 = ms === 'iq1_s' || ms === 'iq1_m';
  let iAttnV = 0;
  let iFfnDown = 0;
  let iFfnGate = 0;
  let iFfnUp = 0;
  const chosen = new Map<string, number>();
  const layerOf = (name: string, counter: number): number => (shape.nExpert > 1 ? Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? counter) : counter);

  const pick = (name: string, rowLength: number): number => {
    if (FLOAT_TYPES.has(base)) return base;
    const cat = category(name);
    let t: number = base;
    if (cat === 'output' || (shape.tiedEmbeddings && cat === 'token_embd')) {
      const block = ggmlTypeInfo(base)!.blockSize;
      if (shape.arch === 'falcon' || rowLength % block !== 0) t = T.Q8_0;
      else if (low || mix === 'iq3_xxs') t = T.Q5_K;
      else if (base !== T.Q8_0) t = T.Q6_K;
    } else if (cat === 'token_embd') {
      if (ms === 'iq2_xxs' || ms === 'iq2_xs' || iq1) t = T.Q2_K;
      else if (iq2sm || mix === 'iq3_xxs') t = T.IQ3_S;
    } else if (low) {
      if (cat === 'attn_v') {
        t = gqa >= 4 || shape.nExpert >= 4 ? T.Q4_K : iq2sm ? T.IQ3_S : T.Q2_K;
        iAttnV++;
      } else if (cat === 'attn_k' && shape.nExpert === 8) t = T.Q4_K;
      else if (cat === 'ffn_down') {
        if (iFfnDown < Math.trunc(nFfnDown / 8)) t = iq2sm ? T.IQ3_S : T.Q2_K;
        iFfnDown++;
      } else if (cat === 'attn_output') {
        if (shape.nExpert === 8) t = T.Q5_K;
        else if (iq1) t = T.IQ2_XXS;
        else if (iq2sm) t = T.IQ3_S;
      }
    } else if (cat === 'attn_v') {
      if (mix === 'q2_K') t = gqa >= 4 ? T.Q4_K : T.Q3_K;
      else if (mix === 'iq3_xxs') t = gqa >= 4 ? T.Q4_K : !opts.imatrix ? T.IQ3_S : T.IQ3_XXS;
      else if ((mix === 'iq3_xs' || mix === 'iq3_s') && gqa >= 4) t = T.Q4_K;
      else if (mix === 'iq3_m') t = T.Q4_K;
      else if (mix === 'q3_K_M') t = iAttnV < 2 ? T.Q5_K : T.Q4_K;
      else if (mix === 'q3_K_L') t = T.Q5_K;
      else if ((mix === 'q4_K_M' || mix === 'q5_K_M') && useMoreBits(iAttnV, nAttnV)) t = T.Q6_K;
      else if (iq4 && gqa >= 4) t = T.Q5_K;
      else if (mix === 'q4_K_S' && iAttnV < 4) t = T.Q5_K;
      if (is70B && (t === T.Q3_K || t === T.Q4_K)) t = T.Q5_K;
      if (shape.nExpert === 8) t = T.Q8_0;
      iAttnV++;
    } else if (cat === 'attn_k') {
      if (shape.nExpert === 8) t = T.Q8_0;
      else if (mix === 'iq3_xs') t = T.IQ3_XXS;
      else if (mix === 'iq3_xxs') t = T.IQ2_S;
    } else if (cat === 'attn_q') {
      if (mix === 'iq3_xs') t = T.IQ3_XXS;
      else if (mix === 'iq3_xxs') t = T.IQ2_S;
    } else if (cat === 'ffn_down') {
      const i = layerOf(name, iFfnDown);
      const falcon = shape.arch === 'falcon';
      if (mix === 'q2_K') t = T.Q3_K;
      else if (mix === 'iq3_xxs' && !opts.imatrix) t = i < Math.trunc(nLayer / 8) ? T.Q4_K : T.Q3_K;
      else if (mix === 'q3_K_M') t = i < Math.trunc(nLayer / 16) ? T.Q5_K : !falcon || useMoreBits(i, nLayer) ? T.Q4_K : T.Q3_K;
      else if (mix === 'iq3_m' && (i < Math.trunc(nLayer / 8) || (shape.nExpert === 8 && useMoreBits(i, nLayer)))) t = T.Q4_K;
      else if (mix === 'q3_K_L') t = falcon ? T.Q4_K : T.Q5_K;
      else if (mix === 'q4_K_M') {
        if (falcon) t = i < Math.trunc(nLayer / 16) ? T.Q6_K : useMoreBits(i, nLayer) ? T.Q5_K : T.Q4_K;
        else if (useMoreBits(i, nLayer)) t = T.Q6_K;
      } else if (iq4 && !opts.imatrix && i < Math.trunc(nLayer / 8)) t = T.Q5_K;
      else if (mix === 'q5_K_M' && useMoreBits(i, nLayer)) t = T.Q6_K;
      else if (mix === 'q4_K_S' && !falcon && i < Math.trunc(nLayer / 8)) t = T.Q5_K;
      iFfnDown++;
    } else if (cat === 'attn_output') {
      if (shape.arch !== 'falcon') {
        if (shape.nExpert === 8) {
          if (['q2_K', 'iq3_xs', 'iq3_xxs', 'q3_K_S', 'q3_K_M', 'iq4_nl', 'q4_K_S', 'q4_K_M', 'iq3_s', 'iq3_m', 'iq4_xs'].includes(mix)) t = T.Q5_K;
        } else if (mix === 'q2_K') t = T.Q3_K;
        else if (mix === 'iq3_xxs') t = T.IQ3_S;
        else if (mix === 'q3_K_M') t = T.Q4_K;
        else if (mix === 'q3_K_L') t = T.Q5_K;
        else if (mix === 'iq3_m') t = T.Q4_K;
      } else if (mix === 'q3_K_L') t = T.Q4_K;
    } else if (cat === 'ffn_gate' || cat === 'ffn_up') {
      const i = layerOf(name, cat === 'ffn_gate' ? iFfnGate : iFfnUp);
      if (mix === 'iq3_xs' && i >= Math.trunc(nLayer / 8) && i < Math.trunc((7 * nLayer) / 8)) t = T.IQ3_XXS;
      if (cat === 'ffn_gate') iFfnGate++;
      else iFfnUp++;
    }
    return fallback(t, rowLength);
  };

  for (const t of [...file.tensors].sort((a, b) => tensorOrder(a.name, b.name))) {
    if (!quantizable(t.name, t.dims)) continue;
    chosen.set(t.name, pick(t.name, t.dims[0]));
  }
  return file.tensors.map((t) => ({ name: t.name, dims: t.dims, from: t.type, to: chosen.get(t.name) ?? t.type }));
}

/** A one-line description of a plan, for logs: counts of tensors per target type. */
export function describePlan(plan: TensorPlan[]): string {
  const counts = new Map<string, number>();
  for (const p of plan) counts.set(ggmlTypeName(p.to), (counts.get(ggmlTypeName(p.to)) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k}: ${v}`).join(', ');
}

/** Whether quantizing this model to a mix needs an importance matrix (llama.cpp refuses such a mix without one). */
export function mixNeedsImatrix(file: GGUFFile, mix: MixName): boolean {
  return planQuantization(file, mix).some(tensorNeedsImatrix);
}
