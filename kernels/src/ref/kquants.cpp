// Reference dequantizers and quantizers of the K formats. Layouts: blocks.h and
// kpack.h; the quantizers' search: kfit.h.
#include "kquants.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "kcodes.h"
#include "kfit.h"
#include "kpack.h"
#include "weights.h"

void kiln_dequantize_row_q2_K(const void *src, float *dst, int64_t n) {
  const kiln_block_q2_K *b = static_cast<const kiln_block_q2_K *>(src);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, dst += KILN_QK_K) {
    const float d = kiln_fp16(b[i].d), dmin = kiln_fp16(b[i].dmin);
    for (int j = 0; j < 16; j++) {
      const float dl = d * static_cast<float>(b[i].scales[j] & 0xf);
      const float ml = dmin * static_cast<float>(b[i].scales[j] >> 4);
      for (int e = 16 * j; e < 16 * j + 16; e++) dst[e] = dl * static_cast<float>(kiln_q2k_code(b[i].qs, e)) - ml;
    }
  }
}

void kiln_dequantize_row_q3_K(const void *src, float *dst, int64_t n) {
  const kiln_block_q3_K *b = static_cast<const kiln_block_q3_K *>(src);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, dst += KILN_QK_K) {
    const float d = kiln_fp16(b[i].d);
    for (int j = 0; j < 16; j++) {
      const float dl = d * static_cast<float>(kiln_q3k_scale(j, b[i].scales));
      for (int e = 16 * j; e < 16 * j + 16; e++)
        dst[e] = dl * static_cast<float>(kiln_q3k_code(b[i].qs, b[i].hmask, e));
    }
  }
}

void kiln_dequantize_row_q4_K(const void *src, float *dst, int64_t n) {
  const kiln_block_q4_K *b = static_cast<const kiln_block_q4_K *>(src);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, dst += KILN_QK_K) {
    const float d = kiln_fp16(b[i].d), dmin = kiln_fp16(b[i].dmin);
    for (int j = 0; j < 8; j++) {
      int sc, mn;
      kiln_q4k_scale_min(j, b[i].scales, &sc, &mn);
      const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
      for (int e = 32 * j; e < 32 * j + 32; e++) dst[e] = dl * static_cast<float>(kiln_q4k_code(b[i].qs, e)) - ml;
    }
  }
}

void kiln_dequantize_row_q5_K(const void *src, float *dst, int64_t n) {
  const kiln_block_q5_K *b = static_cast<const kiln_block_q5_K *>(src);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, dst += KILN_QK_K) {
    const float d = kiln_fp16(b[i].d), dmin = kiln_fp16(b[i].dmin);
    for (int j = 0; j < 8; j++) {
      int sc, mn;
      kiln_q4k_scale_min(j, b[i].scales, &sc, &mn);
      const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
      for (int e = 32 * j; e < 32 * j + 32; e++)
        dst[e] = dl * static_cast<float>(kiln_q5k_code(b[i].qs, b[i].qh, e)) - ml;
    }
  }
}

void kiln_dequantize_row_q6_K(const void *src, float *dst, int64_t n) {
  const kiln_block_q6_K *b = static_cast<const kiln_block_q6_K *>(src);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, dst += KILN_QK_K) {
    const float d = kiln_fp16(b[i].d);
    for (int j = 0; j < 16; j++) {
      const float dl = d * static_cast<float>(b[i].scales[j]);
      for (int e = 16 * j; e < 16 * j + 16; e++) dst[e] = dl * static_cast<float>(kiln_q6k_code(b[i].ql, b[i].qh, e));
    }
  }
}

void kiln_dequantize_row_q8_K(const void *src, float *dst, int64_t n) {
  const kiln_block_q8_K *b = static_cast<const kiln_block_q8_K *>(src);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, dst += KILN_QK_K) {
    float d;
    memcpy(&d, &b[i].d, 4);
    for (int e = 0; e < KILN_QK_K; e++) dst[e] = d * static_cast<float>(b[i].qs[e]);
  }
}

// The rules of the error weights without an importance matrix (weights.h),
// measured on kjv against llama.cpp's quantizer.
const kiln_weight_rule DEFAULT_RULE_Q2_K = KILN_W_ONE;
const kiln_weight_rule DEFAULT_RULE_Q3_K = KILN_W_AVABS;
const kiln_weight_rule DEFAULT_RULE_Q4_K = KILN_W_ABS;
const kiln_weight_rule DEFAULT_RULE_Q5_K = KILN_W_ONE;
const kiln_weight_rule DEFAULT_RULE_Q6_K = KILN_W_SIGMA;

// Super-block scale candidates beyond the first (kfit.h `tries`), per type;
// KILN_QUANT_TRIES_<TYPE> overrides, a measuring knob like the rules.
const int DEFAULT_TRIES_Q2_K = 0;
const int DEFAULT_TRIES_Q3_K = 0;
const int DEFAULT_TRIES_Q4_K = 0;
const int DEFAULT_TRIES_Q5_K = 0;
const int DEFAULT_TRIES_Q6_K = 0;

namespace {

int tries_for(const char *type, int def) {
  char name[64];
  snprintf(name, sizeof name, "KILN_QUANT_TRIES_%s", type);
  const char *v = getenv(name);
  return v != nullptr && *v >= '0' && *v <= '9' ? atoi(v) : def;
}

// The weights of super-block i; sigma2 is twice the mean square of its values
// (the spread used beside each value's own square).
void super_weights(const float *x, const float *imp, int64_t i, kiln_weight_rule rule, float *w) {
  kiln_block_weights(x, KILN_QK_K, imp != nullptr ? imp + i * KILN_QK_K : nullptr, 2 * kiln_mean_square(x, KILN_QK_K), rule, w);
}

} // namespace

// Q2_K: 16 x 16, 2-bit values, 4-bit scale and min codes. Radius 2: with only
// 16 scale codes a neighbouring code is often the better compromise.
void kiln_quantize_row_q2_K_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q2_K", DEFAULT_RULE_Q2_K);
  static const int TRIES = tries_for("Q2_K", DEFAULT_TRIES_Q2_K);
  kiln_block_q2_K *b = static_cast<kiln_block_q2_K *>(dst);
  kiln_affine_super s;
  float w[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    super_weights(src, imp, i, RULE, w);
    kiln_quant_affine_super(src, w, 16, 16, 3, 15, 2, TRIES, &s);
    b[i].d = s.d;
    b[i].dmin = s.dmin;
    for (int j = 0; j < 16; j++) b[i].scales[j] = static_cast<uint8_t>(s.sc[j] | (s.mn[j] << 4));
    memset(b[i].qs, 0, sizeof b[i].qs);
    for (int e = 0; e < KILN_QK_K; e++) kiln_q2k_set(b[i].qs, e, s.q[e]);
  }
}

// Q3_K: 16 x 16, values -4..3, signed 6-bit scale codes.
void kiln_quantize_row_q3_K_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q3_K", DEFAULT_RULE_Q3_K);
  static const int TRIES = tries_for("Q3_K", DEFAULT_TRIES_Q3_K);
  kiln_block_q3_K *b = static_cast<kiln_block_q3_K *>(dst);
  kiln_sym_super s;
  float w[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    super_weights(src, imp, i, RULE, w);
    kiln_quant_sym_super(src, w, 16, 16, -4, 3, -32, 31, 2, TRIES, &s);
    b[i].d = s.d;
    kiln_q3k_pack_scales(s.sc, b[i].scales);
    memset(b[i].qs, 0, sizeof b[i].qs);
    memset(b[i].hmask, 0, sizeof b[i].hmask);
    for (int e = 0; e < KILN_QK_K; e++) kiln_q3k_set(b[i].qs, b[i].hmask, e, s.q[e]);
  }
}

// Q4_K: 8 x 32, 4-bit values, 6-bit scale and min codes.
void kiln_quantize_row_q4_K_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q4_K", DEFAULT_RULE_Q4_K);
  static const int TRIES = tries_for("Q4_K", DEFAULT_TRIES_Q4_K);
  kiln_block_q4_K *b = static_cast<kiln_block_q4_K *>(dst);
  kiln_affine_super s;
  float w[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    super_weights(src, imp, i, RULE, w);
    kiln_quant_affine_super(src, w, 8, 32, 15, 63, 1, TRIES, &s);
    b[i].d = s.d;
    b[i].dmin = s.dmin;
    kiln_q4k_pack_scales(s.sc, s.mn, b[i].scales);
    memset(b[i].qs, 0, sizeof b[i].qs);
    for (int e = 0; e < KILN_QK_K; e++) kiln_q4k_set(b[i].qs, e, s.q[e]);
  }
}

// Q5_K: 8 x 32, 5-bit values, 6-bit scale and min codes.
void kiln_quantize_row_q5_K_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q5_K", DEFAULT_RULE_Q5_K);
  static const int TRIES = tries_for("Q5_K", DEFAULT_TRIES_Q5_K);
  kiln_block_q5_K *b = static_cast<kiln_block_q5_K *>(dst);
  kiln_affine_super s;
  float w[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    super_weights(src, imp, i, RULE, w);
    kiln_quant_affine_super(src, w, 8, 32, 31, 63, 1, TRIES, &s);
    b[i].d = s.d;
    b[i].dmin = s.dmin;
    kiln_q4k_pack_scales(s.sc, s.mn, b[i].scales);
    memset(b[i].qs, 0, sizeof b[i].qs);
    memset(b[i].qh, 0, sizeof b[i].qh);
    for (int e = 0; e < KILN_QK_K; e++) kiln_q5k_set(b[i].qs, b[i].qh, e, s.q[e]);
  }
}

// Q6_K: 16 x 16, values -32..31, int8 scale codes.
void kiln_quantize_row_q6_K_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q6_K", DEFAULT_RULE_Q6_K);
  static const int TRIES = tries_for("Q6_K", DEFAULT_TRIES_Q6_K);
  kiln_block_q6_K *b = static_cast<kiln_block_q6_K *>(dst);
  kiln_sym_super s;
  float w[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    super_weights(src, imp, i, RULE, w);
    kiln_quant_sym_super(src, w, 16, 16, -32, 31, -128, 127, 2, TRIES, &s);
    b[i].d = s.d;
    for (int j = 0; j < 16; j++) b[i].scales[j] = static_cast<int8_t>(s.sc[j]);
    memset(b[i].ql, 0, sizeof b[i].ql);
    memset(b[i].qh, 0, sizeof b[i].qh);
    for (int e = 0; e < KILN_QK_K; e++) kiln_q6k_set(b[i].ql, b[i].qh, e, s.q[e]);
  }
}

void kiln_quantize_row_q2_K_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q2_K_w(src, dst, n, nullptr); }
void kiln_quantize_row_q3_K_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q3_K_w(src, dst, n, nullptr); }
void kiln_quantize_row_q4_K_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q4_K_w(src, dst, n, nullptr); }
void kiln_quantize_row_q5_K_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q5_K_w(src, dst, n, nullptr); }
void kiln_quantize_row_q6_K_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q6_K_w(src, dst, n, nullptr); }

// Activations against K-quant weights, with llama.cpp's numerics so the dot
// products come out bit for bit the same: the scale comes from the signed
// value of largest magnitude (the first, on a tie), iscale = -127 / max, the
// codes are iscale * x rounded to nearest even, and d = 1 / iscale (negative
// when max is positive: codes and scale both flip sign, and their product does
// not, but 1 / (127 / amax) and amax / 127 can differ in the last bit).
void kiln_quantize_row_q8_K_ref(const float *src, void *dst, int64_t n) {
  kiln_block_q8_K *b = static_cast<kiln_block_q8_K *>(dst);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    float amax = 0, max = 0;
    for (int e = 0; e < KILN_QK_K; e++)
      if (fabsf(src[e]) > amax) {
        amax = fabsf(src[e]);
        max = src[e];
      }
    // Below ~1e-30 the inverse scale would overflow; such a block is zero for
    // every purpose here. Inf/NaN inputs also land in the zero block.
    const bool usable = amax >= 1e-30f && amax <= 3.0e38f;
    const float iscale = usable ? -127.0f / max : 0.0f;
    const float d = usable ? 1.0f / iscale : 0.0f;
    memcpy(&b[i].d, &d, 4);
    for (int j = 0; j < 16; j++) {
      int sum = 0;
      for (int e = 16 * j; e < 16 * j + 16; e++) {
        const int q = kiln_q8_code(src[e] * iscale);
        b[i].qs[e] = static_cast<int8_t>(q);
        sum += q;
      }
      b[i].bsums[j] = static_cast<int16_t>(sum);
    }
  }
}
