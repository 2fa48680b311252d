import { describe, expect, it } from 'vitest';

import { gaussian, nmse } from './harness.js';
import { attention, rmsnorm, siluMul } from './layer-ops.js';
import { dequantize, quantize, rowSize, type QuantType } from './quants.js';
import { vulkanAdd, vulkanAttn, vulkanGeluMul, vulkanInfo, vulkanMatmul, vulkanRmsnorm, vulkanRope, vulkanSiluMul } from './vulkan.js';

/**
 * Every Vulkan device op against the CPU reference, on whatever device the
 * backend finds (CI: Mesa's lavapipe, which scripts/system-deps.sh installs).
 * The device sums in float32 in its own order; the references sum the same
 * dequantized values in double (matmul) or are the scalar CPU kernels. The
 * bounds are ~100x the worst errors seen on lavapipe.
 */
const info = vulkanInfo();
const device = info.available && info.devices.length > 0;

describe('the Vulkan backend is built where its packages are', () => {
  it('reports its devices with their features', () => {
    // scripts/system-deps.sh installs libvulkan-dev, glslc and lavapipe, so the suite always has a device
    expect(info.built).toBe(true);
    expect(info.available, info.reason).toBe(true);
    const d = info.devices[0];
    expect(d.name.length).toBeGreaterThan(0);
    expect(d.subgroupSize).toBeGreaterThan(0);
    expect(d.maxStorageBufferRange).toBeGreaterThan(0);
  });

  it('does not offload to a CPU device unless asked, and KILN_GPU=none turns it off', () => {
    if (info.devices.every((d) => d.type === 'cpu')) {
      expect(info.selected).toBe(-1);
      expect(info.reason).toMatch(/KILN_GPU=vulkan/);
    }
  });
});

/** n × rows: W (dequantized by the CPU) times x, summed in double. */
function refMatmul(type: QuantType, w: Uint8Array, rows: number, cols: number, x: Float32Array, n: number, bias?: Float32Array): Float32Array {
  const rb = rowSize(type, cols);
  const out = new Float32Array(n * rows);
  for (let r = 0; r < rows; r++) {
    const row = dequantize(type, w.subarray(r * rb, (r + 1) * rb), cols);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let i = 0; i < cols; i++) s += row[i] * x[t * cols + i];
      out[t * rows + r] = s + (bias ? bias[r] : 0);
    }
  }
  return out;
}

describe.skipIf(!device)('Vulkan ops against the CPU reference', () => {
  const types: QuantType[] = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'];
  for (const type of types) {
    for (const variant of ['groups', 'rows']) it(`dequantize-matvec and batch matmul: ${type}, ${variant} shader`, () => {
      process.env.KILN_VULKAN_MATMUL = variant;
      const cols = type.endsWith('_K') ? 512 : 96;
      const rows = 37; // odd
      const w = quantize(type, gaussian(rows * cols, 7), rows, cols);
      for (const n of [1, 5]) { // 5: a partial token block
        const x = gaussian(n * cols, 11 + n);
        const bias = n === 5 ? gaussian(rows, 3) : undefined;
        const got = vulkanMatmul(type, w, rows, cols, x, n, bias);
        expect(nmse(refMatmul(type, w, rows, cols, x, n, bias), got), `n ${n}`).toBeLessThan(1e-10);
      }
      delete process.env.KILN_VULKAN_MATMUL;
    });
  }

  it('RMSNorm over rows of odd length', () => {
    for (const dim of [64, 77, 1000]) {
      const x = gaussian(3 * dim, dim);
      const w = gaussian(dim, dim + 1);
      const got = vulkanRmsnorm(x, w, dim, 1e-5);
      const want = new Float32Array(3 * dim);
      for (let r = 0; r < 3; r++) want.set(rmsnorm(x.subarray(r * dim, (r + 1) * dim), w, 1e-5, 'scalar'), r * dim);
      expect(nmse(want, got), `dim ${dim}`).toBeLessThan(1e-12);
    }
  });

  it('SiLU·up', () => {
    const g = gaussian(1001, 5, 3);
    const u = gaussian(1001, 6);
    expect(nmse(siluMul(g, u, 'scalar'), vulkanSiluMul(g, u))).toBeLessThan(1e-12);
  });

  it('GELU·up (binary16 precision, as the CPU path) and the residual add', () => {
    const g = gaussian(1001, 7, 4);
    g[0] = -12; // at or below -10: 0
    g[1] = 11; // at or above 10: g itself
    const u = gaussian(1001, 8);
    const want = g.map((x, i) => (x <= -10 ? 0 : x >= 10 ? x : 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * x * (1 + 0.044715 * x * x)))) * u[i]);
    const got = vulkanGeluMul(g, u);
    expect(got[0]).toBe(0);
    expect(got[1]).toBeCloseTo(11 * u[1], 5);
    expect(nmse(want, got)).toBeLessThan(1e-6);
    expect(Array.from(vulkanAdd(g, u))).toEqual(Array.from(g, (x, i) => Math.fround(x + u[i])));
  });

  for (const neox of [false, true]) {
    it(`RoPE, ${neox ? 'NEOX' : 'normal'} pairs, partial rotation`, () => {
      const n = 3, heads = 5, headDim = 24, nRot = 16;
      const v = gaussian(n * heads * headDim, 9);
      const cs = new Float32Array(n * nRot);
      for (let t = 0; t < n; t++)
        for (let i = 0; i < nRot / 2; i++) {
          const a = (t + 4) * Math.pow(10000, (-2 * i) / nRot) / (1 + i / 10); // with frequency factors
          cs[(t * nRot) / 2 * 2 + 2 * i] = Math.cos(a);
          cs[(t * nRot) / 2 * 2 + 2 * i + 1] = Math.sin(a);
        }
      const want = Float32Array.from(v);
      for (let t = 0; t < n; t++)
        for (let h = 0; h < heads; h++) {
          const b = (t * heads + h) * headDim;
          for (let i = 0; i < nRot / 2; i++) {
            const c = cs[t * nRot + 2 * i], s = cs[t * nRot + 2 * i + 1];
            const a = neox ? b + i : b + 2 * i, bb = neox ? b + i + nRot / 2 : b + 2 * i + 1;
            const x0 = v[a], x1 = v[bb];
            want[a] = x0 * c - x1 * s;
            want[bb] = x0 * s + x1 * c;
          }
        }
      expect(nmse(want, vulkanRope(v, cs, n, heads, headDim, nRot, neox))).toBeLessThan(1e-13);
    });
  }

  for (const [nHead, nHeadKv, headDim, pos0, n, softcap, window] of [
    [4, 2, 32, 0, 3, 0, 0],
    [6, 3, 40, 300, 2, 0, 0],
    [2, 2, 128, 5, 1, 0, 0],
    [4, 2, 48, 280, 3, 2, 0],
    [4, 1, 32, 290, 4, 0, 7],
    [2, 2, 64, 10, 2, 5, 4],
  ]) {
    it(`attention over an f16 cache: ${nHead}/${nHeadKv} heads of ${headDim}, ${pos0} cached + ${n} new, soft-cap ${softcap}, window ${window}`, () => {
      const kvdim = nHeadKv * headDim;
      const total = pos0 + n;
      const kAll = gaussian(total * kvdim, 21), vAll = gaussian(total * kvdim, 22);
      const kc = quantize('F16', kAll, total, kvdim), vc = quantize('F16', vAll, total, kvdim);
      const q = gaussian(n * nHead * headDim, 23, 2);
      const scale = 1 / Math.sqrt(headDim);
      const got = vulkanAttn(q, kAll.subarray(pos0 * kvdim), vAll.subarray(pos0 * kvdim), kc.subarray(0, pos0 * kvdim * 2), vc.subarray(0, pos0 * kvdim * 2),
        { n, nHead, nHeadKv, headDim, pos0, scale, softcap, window });
      const want = new Float32Array(n * nHead * headDim);
      for (let t = 0; t < n; t++)
        for (let h = 0; h < nHead; h++) {
          const g = Math.floor(h / (nHead / nHeadKv));
          // the CPU reference reads head g's rows from the window's first position: rows kvdim elements apart
          const first = window > 0 ? Math.max(0, pos0 + t + 1 - window) : 0;
          const off = (first * kvdim + g * headDim) * 2;
          const cache = { k: kc.subarray(off), v: vc.subarray(off), stride: kvdim, f16: true };
          const qh = q.subarray((t * nHead + h) * headDim, (t * nHead + h + 1) * headDim);
          want.set(attention(qh, cache, pos0 + t + 1 - first, headDim, scale, 'scalar', softcap), (t * nHead + h) * headDim);
        }
      expect(nmse(want, got)).toBeLessThan(1e-10);
    });
  }
});
