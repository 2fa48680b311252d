#include "kv_quant.h"

#include <math.h>
#include <string.h>

#include "blocks.h"
#include "half.h"

extern "C" void kiln_quantize_row_q4_0_rtn(const float *src, void *dst, int64_t n) {
  kiln_block_q4_0 *b = static_cast<kiln_block_q4_0 *>(dst);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    // the value of largest magnitude, with its sign, maps to code 0 (-8)
    float amax = 0.0f, peak = 0.0f;
    for (int j = 0; j < KILN_QK; j++)
      if (fabsf(src[j]) > amax) {
        amax = fabsf(src[j]);
        peak = src[j];
      }
    const float d = peak / -8.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = kiln_f32_to_f16(d);
    for (int j = 0; j < KILN_QK / 2; j++) {
      // truncation toward zero of x + 8.5 (x >= -8 here), capped at 15
      int lo = (int)(int8_t)(src[j] * inv + 8.5f), hi = (int)(int8_t)(src[j + KILN_QK / 2] * inv + 8.5f);
      lo = lo > 15 ? 15 : lo;
      hi = hi > 15 ? 15 : hi;
      b[i].qs[j] = (uint8_t)(lo | (hi << 4));
    }
  }
}

extern "C" void kiln_attn_quant_ref(const kiln_kernel_table *kt, const float *q, const void *k, int k_type, size_t k_stride,
                                    const void *v, int v_type, size_t v_stride, int32_t n_kv, int32_t head_dim, float scale,
                                    float softcap, float *scratch, float *out) {
  if (softcap != 0.0f) scale /= softcap;
  const int32_t d = head_dim;
  // scratch: q in K's dot type (at most d halves or d/32 Q8_0 blocks: < d floats), the accumulator, one V row in f32
  void *qk = scratch;
  float *acc = scratch + d + 8;
  float *v32 = acc + d;
  uint16_t *acc16 = reinterpret_cast<uint16_t *>(acc);
  const int k_dot = k_type == KILN_TYPE_F16 ? KILN_TYPE_F16 : KILN_TYPE_Q8_0;
  kt->from_float[k_dot](q, qk, d);
  const kiln_vec_dot_fn dot = kt->vec_dot[k_type];
  const bool v16 = v_type == KILN_TYPE_F16;
  const kiln_to_float_fn v_to_float = kiln_type_traits_of(v_type)->to_float;
  if (v16)
    memset(acc16, 0, (size_t)d * sizeof(uint16_t));
  else
    memset(acc, 0, (size_t)d * sizeof(float));
  float M = -INFINITY, S = 0.0f;
  const uint8_t *kr = static_cast<const uint8_t *>(k), *vr = static_cast<const uint8_t *>(v);
  for (int32_t s = 0; s < n_kv; s++, kr += k_stride, vr += v_stride) {
    float x;
    dot(d, &x, kr, qk);
    x *= scale;
    if (softcap != 0.0f) x = softcap * tanhf(x);
    // a new maximum rescales what was summed (ms) and weighs this row 1; otherwise the row weighs e^(x - M)
    float ms = 1.0f, vs = 1.0f;
    const bool rescale = x > M;
    if (rescale) {
      ms = (float)exp((double)(M - x));
      M = x;
    } else {
      vs = (float)exp((double)(x - M));
    }
    if (v16) {
      const uint16_t *vh = reinterpret_cast<const uint16_t *>(vr);
      if (rescale)
        for (int32_t i = 0; i < d; i++) acc16[i] = kiln_f32_to_f16(kiln_f16_to_f32(acc16[i]) * ms);
      for (int32_t i = 0; i < d; i++) acc16[i] = kiln_f32_to_f16(fmaf(kiln_f16_to_f32(vh[i]), vs, kiln_f16_to_f32(acc16[i])));
    } else {
      if (rescale)
        for (int32_t i = 0; i < d; i++) acc[i] *= ms;
      v_to_float(vr, v32, d);
      for (int32_t i = 0; i < d; i++) acc[i] = fmaf(v32[i], vs, acc[i]);
    }
    S = fmaf(S, ms, vs);
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  if (v16) {
    for (int32_t i = 0; i < d; i++) out[i] = kiln_f16_to_f32(acc16[i]) * inv;
  } else {
    for (int32_t i = 0; i < d; i++) out[i] = acc[i] * inv;
  }
}
