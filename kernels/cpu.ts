/**
 * What the CPU probe found and which kernel variant runs by default.
 */
import { KilnError } from '../common/errors.js';
import { KERNEL_VARIANTS, readSetting, type Env } from '../settings/settings.js';
import { call, native } from './native.js';

export interface CpuFeatures {
  arch: 'x86_64' | 'arm64' | 'other';
  sse42: boolean;
  avx: boolean;
  avx2: boolean;
  fma: boolean;
  f16c: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512vl: boolean;
  avx512vnni: boolean;
  avxvnni: boolean;
  /** Only true if the OS already granted AMX tile state to this process; kiln never asks. */
  amx: boolean;
  neon: boolean;
  dotprod: boolean;
  /** x86 vendor AMD (or Hygon): the SIMD kernels prefetch weights into L2 there (KILN_PREFETCH=l1|l2 overrides). */
  amd: boolean;
}

export const VARIANTS = KERNEL_VARIANTS;
export type Variant = (typeof VARIANTS)[number];

export function cpuFeatures(): CpuFeatures {
  return call(() => native().cpuFeatures()) as unknown as CpuFeatures;
}

/** Variants this build and CPU can run, worst first (always includes 'scalar'). */
export function supportedVariants(): Variant[] {
  return call(() => native().supportedVariants()) as Variant[];
}

/**
 * The variant kernels run with by default: the best one the CPU supports, or
 * KILN_KERNELS=scalar|avx2|avx512 clamped down to what the CPU supports (asking
 * for avx512 on an AVX2-only machine gives avx2, never an illegal instruction).
 */
export function selectedVariant(env: Env = process.env): Variant {
  const supported = supportedVariants();
  const want = readSetting('kernels', env); // the settings table: E_CONFIG for a bad value
  if (want === undefined) return supported[supported.length - 1];
  const rank = VARIANTS.indexOf(want);
  for (let r = rank; r >= 0; r--) if (supported.includes(VARIANTS[r])) return VARIANTS[r];
  return 'scalar';
}

let defaultVariantCache: Variant | undefined;

/** selectedVariant() for this process's environment, computed once. */
export function defaultVariant(): Variant {
  defaultVariantCache ??= selectedVariant();
  return defaultVariantCache;
}

/** Native index of a variant, checked against what this CPU supports. */
export function variantIndex(v: Variant | undefined): number {
  const name = v ?? defaultVariant();
  const i = VARIANTS.indexOf(name);
  if (i < 0 || !supportedVariants().includes(name)) {
    throw new KilnError('E_NATIVE', `kernel variant '${String(name)}' is not supported here (have: ${supportedVariants().join(', ')})`);
  }
  return i;
}

/**
 * Threads that matvec and quantize use, the calling thread included (a
 * persistent pool; default: the number of hardware threads).
 */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    throw new KilnError('E_NATIVE', `threads must be an integer in [1, 1024]; got ${n}`);
  }
  call(() => native().setThreads(n));
}

export function threads(): number {
  return call(() => native().threads());
}
