/**
 * The Vulkan backend (kernels/src/vulkan/): the device list, and each device
 * op run once on the device for the tests (a CPU device such as Mesa's
 * lavapipe included). The forward pass offloads layers natively
 * (NativeLlama's nGpuLayers); nothing here is on that path.
 */
import { KilnError } from '../common/errors.js';
import { call, native, type VulkanInfo } from './native.js';
import { rowSize, typeOf, type QuantType } from './quants.js';

export type { VulkanDevice, VulkanInfo } from './native.js';

let info: VulkanInfo | undefined;

/** The devices and the one offload would use; read once per process (the environment is read then too). */
export function vulkanInfo(): VulkanInfo {
  info ??= call(() => native().vulkanInfo());
  return info;
}

/** A one-line summary for logs: the chosen device, or why there is none. */
export function describeGpu(v: VulkanInfo = vulkanInfo()): string {
  const list = v.devices.map((d) => `${d.index}: ${d.name} (${d.type}, ${Math.round(d.memoryBytes / 2 ** 20)} MiB)`).join('; ');
  if (v.selected >= 0) return `gpu: vulkan device ${list ? `[${list}]` : ''} using ${v.selected}`;
  return `gpu: none (${v.reason})${list ? ` — vulkan devices: ${list}` : ''}`;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new KilnError('E_NATIVE', what);
}

/** rows × cols weights of a type times n token rows of x: n × rows outputs (plus bias[r] when given). */
export function vulkanMatmul(type: QuantType | number, w: Uint8Array, rows: number, cols: number, x: Float32Array, n: number, bias?: Float32Array): Float32Array {
  const t = typeOf(type);
  check(w.length >= rowSize(t.id, cols) * rows && x.length >= n * cols && n > 0, 'vulkanMatmul: buffers are too small');
  const out = new Float32Array(n * rows);
  call(() => native().vulkanMatmul(t.id, w, rows, cols, x, n, bias ?? null, out));
  return out;
}

export function vulkanRmsnorm(x: Float32Array, w: Float32Array, dim: number, eps: number): Float32Array {
  check(dim > 0 && x.length % dim === 0 && w.length >= dim, 'vulkanRmsnorm: bad sizes');
  const out = new Float32Array(x.length);
  call(() => native().vulkanRmsnorm(x, w, dim, x.length / dim, eps, out));
  return out;
}

/** RoPE of n tokens × heads in place of a copy, with a (cos, sin) table of n × nRot/2 pairs. */
export function vulkanRope(v: Float32Array, cs: Float32Array, n: number, heads: number, headDim: number, nRot: number, neox: boolean): Float32Array {
  const out = Float32Array.from(v);
  call(() => native().vulkanRope(out, cs, n, heads, headDim, nRot, neox));
  return out;
}

export function vulkanSiluMul(g: Float32Array, u: Float32Array): Float32Array {
  const out = Float32Array.from(g);
  call(() => native().vulkanSiluMul(out, u));
  return out;
}

/** GELU(g) · u (GELU's tanh form at binary16 precision, as the CPU path). */
export function vulkanGeluMul(g: Float32Array, u: Float32Array): Float32Array {
  const out = Float32Array.from(g);
  call(() => native().vulkanGeluMul(out, u));
  return out;
}

export function vulkanAdd(x: Float32Array, y: Float32Array): Float32Array {
  const out = Float32Array.from(x);
  call(() => native().vulkanAdd(out, y));
  return out;
}

/**
 * n tokens at positions pos0..: their k and v (n × kvdim) stored into an f16
 * cache that holds kc0/vc0 (pos0 × kvdim binary16) before them, then causal
 * attention of q (n × nHead × headDim), scores soft-capped (softcap, 0: off)
 * and limited to a sliding window (window positions, 0: none).
 */
export function vulkanAttn(
  q: Float32Array, k: Float32Array, v: Float32Array, kc0: Uint8Array, vc0: Uint8Array,
  shape: { n: number; nHead: number; nHeadKv: number; headDim: number; pos0: number; scale: number; softcap?: number; window?: number },
): Float32Array {
  const out = new Float32Array(shape.n * shape.nHead * shape.headDim);
  call(() =>
    native().vulkanAttn(q, k, v, kc0, vc0, shape.n, shape.nHead, shape.nHeadKv, shape.headDim, shape.pos0, shape.scale, out, shape.softcap ?? 0, shape.window ?? 0),
  );
  return out;
}
