// Reference kernels of the 32-value block formats. Layouts: blocks.h.
#include "legacy.h"

#include <math.h>
#include <string.h>

#include "blocks.h"
#include "fit.h"
#include "weights.h"

namespace {

float clamp_scale(float d) {
  if (d > KILN_F16_MAX) return KILN_F16_MAX;
  if (d < -KILN_F16_MAX) return -KILN_F16_MAX;
  return d;
}

// Largest-magnitude value, with its sign.
float signed_amax(const float *x, int n) {
  float amax = 0, m = 0;
  for (int i = 0; i < n; i++) {
    if (fabsf(x[i]) > amax) {
      amax = fabsf(x[i]);
      m = x[i];
    }
  }
  return m;
}

// Quantizes one symmetric block: codes q in [qmin, qmax], value = d * q.
// Candidates: the searched scale, and max/qmin (the classic choice, kept so the
// result is never worse than it); each is judged after rounding d to binary16.
uint16_t quant_sym_block(const float *x, const float *w, int qmin, int qmax, int *codes) {
  const float cands[2] = {kiln_fit_symmetric(x, w, KILN_QK, qmin, qmax),
                          signed_amax(x, KILN_QK) / static_cast<float>(qmin)};
  uint16_t best_d = 0;
  double best_err = INFINITY;
  for (float c : cands) {
    const uint16_t d = kiln_f32_to_f16(clamp_scale(c));
    const double err = kiln_err_symmetric(x, w, KILN_QK, kiln_fp16(d), qmin, qmax);
    if (err < best_err) {
      best_err = err;
      best_d = d;
    }
  }
  const float df = kiln_fp16(best_d);
  const float inv = df != 0 ? 1.0f / df : 0.0f;
  for (int i = 0; i < KILN_QK; i++) codes[i] = kiln_clamp(kiln_round(x[i] * inv), qmin, qmax);
  return best_d;
}

// Quantizes one affine block: codes q in [0, qmax], value = d * q + m.
void quant_aff_block(const float *x, const float *w, int qmax, uint16_t *d_out, uint16_t *m_out, int *codes) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < KILN_QK; i++) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  float a, c;
  kiln_fit_affine(x, w, KILN_QK, qmax, false, &a, &c);
  const float cands[2][2] = {{a, c}, {(hi - lo) / static_cast<float>(qmax), lo}};
  double best_err = INFINITY;
  *d_out = 0;
  *m_out = 0;
  for (const auto &cand : cands) {
    const uint16_t d = kiln_f32_to_f16(clamp_scale(cand[0]));
    const uint16_t m = kiln_f32_to_f16(clamp_scale(cand[1]));
    const float df = kiln_fp16(d), mf = kiln_fp16(m);
    const float inv = df > 0 ? 1.0f / df : 0.0f;
    double err = 0;
    for (int i = 0; i < KILN_QK; i++) {
      const int q = kiln_clamp(kiln_round((x[i] - mf) * inv), 0, qmax);
      const double e = static_cast<double>(df * static_cast<float>(q) + mf) - x[i];
      err += w[i] * e * e;
    }
    if (err < best_err) {
      best_err = err;
      *d_out = d;
      *m_out = m;
    }
  }
  const float df = kiln_fp16(*d_out), mf = kiln_fp16(*m_out);
  const float inv = df > 0 ? 1.0f / df : 0.0f;
  for (int i = 0; i < KILN_QK; i++) codes[i] = kiln_clamp(kiln_round((x[i] - mf) * inv), 0, qmax);
}

// Nibble packing shared by the 4- and 5-bit formats: value j and j + 16 share byte j.
void pack_nibbles(const int *u, uint8_t *qs) {
  for (int j = 0; j < KILN_QK / 2; j++) qs[j] = static_cast<uint8_t>((u[j] & 0xf) | ((u[j + 16] & 0xf) << 4));
}

void pack_high_bits(const int *u, uint8_t *qh) {
  uint32_t h = 0;
  for (int j = 0; j < KILN_QK; j++) h |= static_cast<uint32_t>((u[j] >> 4) & 1) << j;
  for (int b = 0; b < 4; b++) qh[b] = static_cast<uint8_t>(h >> (8 * b));
}

inline int nibble(const uint8_t *qs, int j) { return j < 16 ? qs[j] & 0xf : qs[j - 16] >> 4; }

inline uint32_t high_bits(const uint8_t *qh) {
  return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 | static_cast<uint32_t>(qh[2]) << 16 |
         static_cast<uint32_t>(qh[3]) << 24;
}

// Shared Q8_0/Q8_1 activation quantizer; returns the sum of the codes.
int quant_q8(const float *x, uint16_t *d_out, int8_t *qs) {
  float amax = 0;
  for (int i = 0; i < KILN_QK; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
  const uint16_t d = kiln_f32_to_f16(clamp_scale(amax / 127.0f));
  // Codes from 127/amax, the unrounded scale, as llama.cpp's CPU backend
  // quantizes activations: dividing by the f16-rounded d instead flips a few
  // codes, enough to part greedy continuations from llama.cpp's at near-ties.
  const float inv = amax != 0 ? 127.0f / amax : 0.0f;
  int sum = 0;
  for (int i = 0; i < KILN_QK; i++) {
    // clamped: binary16 may round d down so amax * inv lands just past 127
    const int q = kiln_q8_code(x[i] * inv);
    qs[i] = static_cast<int8_t>(q);
    sum += q;
  }
  *d_out = d;
  return sum;
}

} // namespace

void kiln_dequantize_row_q4_0(const void *src, float *dst, int64_t n) {
  const kiln_block_q4_0 *b = static_cast<const kiln_block_q4_0 *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++, dst += KILN_QK) {
    const float d = kiln_fp16(b[i].d);
    for (int j = 0; j < KILN_QK; j++) dst[j] = d * static_cast<float>(nibble(b[i].qs, j) - 8);
  }
}

void kiln_dequantize_row_q4_1(const void *src, float *dst, int64_t n) {
  const kiln_block_q4_1 *b = static_cast<const kiln_block_q4_1 *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++, dst += KILN_QK) {
    const float d = kiln_fp16(b[i].d), m = kiln_fp16(b[i].m);
    for (int j = 0; j < KILN_QK; j++) dst[j] = d * static_cast<float>(nibble(b[i].qs, j)) + m;
  }
}

void kiln_dequantize_row_q5_0(const void *src, float *dst, int64_t n) {
  const kiln_block_q5_0 *b = static_cast<const kiln_block_q5_0 *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++, dst += KILN_QK) {
    const float d = kiln_fp16(b[i].d);
    const uint32_t h = high_bits(b[i].qh);
    for (int j = 0; j < KILN_QK; j++) {
      const int q = nibble(b[i].qs, j) | static_cast<int>((h >> j) & 1) << 4;
      dst[j] = d * static_cast<float>(q - 16);
    }
  }
}

void kiln_dequantize_row_q5_1(const void *src, float *dst, int64_t n) {
  const kiln_block_q5_1 *b = static_cast<const kiln_block_q5_1 *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++, dst += KILN_QK) {
    const float d = kiln_fp16(b[i].d), m = kiln_fp16(b[i].m);
    const uint32_t h = high_bits(b[i].qh);
    for (int j = 0; j < KILN_QK; j++) {
      const int q = nibble(b[i].qs, j) | static_cast<int>((h >> j) & 1) << 4;
      dst[j] = d * static_cast<float>(q) + m;
    }
  }
}

void kiln_dequantize_row_q8_0(const void *src, float *dst, int64_t n) {
  const kiln_block_q8_0 *b = static_cast<const kiln_block_q8_0 *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++, dst += KILN_QK) {
    const float d = kiln_fp16(b[i].d);
    for (int j = 0; j < KILN_QK; j++) dst[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void kiln_dequantize_row_q8_1(const void *src, float *dst, int64_t n) {
  const kiln_block_q8_1 *b = static_cast<const kiln_block_q8_1 *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++, dst += KILN_QK) {
    const float d = kiln_fp16(b[i].d);
    for (int j = 0; j < KILN_QK; j++) dst[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

// The rules of the error weights without an importance matrix (weights.h),
// measured on kjv against llama.cpp's quantizer.
const kiln_weight_rule DEFAULT_RULE_Q4_0 = KILN_W_ONE;
const kiln_weight_rule DEFAULT_RULE_Q4_1 = KILN_W_ONE;
const kiln_weight_rule DEFAULT_RULE_Q5_0 = KILN_W_ONE;
const kiln_weight_rule DEFAULT_RULE_Q5_1 = KILN_W_ONE;
const kiln_weight_rule DEFAULT_RULE_Q8_0 = KILN_W_ONE;

void kiln_quantize_row_q4_0_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q4_0", DEFAULT_RULE_Q4_0);
  kiln_block_q4_0 *b = static_cast<kiln_block_q4_0 *>(dst);
  int codes[KILN_QK];
  float w[KILN_QK];
  const float sigma2 = kiln_mean_square(src, n);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    kiln_block_weights(src, KILN_QK, imp != nullptr ? imp + i * KILN_QK : nullptr, sigma2, RULE, w);
    b[i].d = quant_sym_block(src, w, -8, 7, codes);
    for (int &c : codes) c += 8;
    pack_nibbles(codes, b[i].qs);
  }
}

void kiln_quantize_row_q4_1_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q4_1", DEFAULT_RULE_Q4_1);
  kiln_block_q4_1 *b = static_cast<kiln_block_q4_1 *>(dst);
  int codes[KILN_QK];
  float w[KILN_QK];
  const float sigma2 = kiln_mean_square(src, n);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    kiln_block_weights(src, KILN_QK, imp != nullptr ? imp + i * KILN_QK : nullptr, sigma2, RULE, w);
    quant_aff_block(src, w, 15, &b[i].d, &b[i].m, codes);
    pack_nibbles(codes, b[i].qs);
  }
}

void kiln_quantize_row_q5_0_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q5_0", DEFAULT_RULE_Q5_0);
  kiln_block_q5_0 *b = static_cast<kiln_block_q5_0 *>(dst);
  int codes[KILN_QK];
  float w[KILN_QK];
  const float sigma2 = kiln_mean_square(src, n);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    kiln_block_weights(src, KILN_QK, imp != nullptr ? imp + i * KILN_QK : nullptr, sigma2, RULE, w);
    b[i].d = quant_sym_block(src, w, -16, 15, codes);
    for (int &c : codes) c += 16;
    pack_nibbles(codes, b[i].qs);
    pack_high_bits(codes, b[i].qh);
  }
}

void kiln_quantize_row_q5_1_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q5_1", DEFAULT_RULE_Q5_1);
  kiln_block_q5_1 *b = static_cast<kiln_block_q5_1 *>(dst);
  int codes[KILN_QK];
  float w[KILN_QK];
  const float sigma2 = kiln_mean_square(src, n);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    kiln_block_weights(src, KILN_QK, imp != nullptr ? imp + i * KILN_QK : nullptr, sigma2, RULE, w);
    quant_aff_block(src, w, 31, &b[i].d, &b[i].m, codes);
    pack_nibbles(codes, b[i].qs);
    pack_high_bits(codes, b[i].qh);
  }
}

void kiln_quantize_row_q4_0_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q4_0_w(src, dst, n, nullptr); }
void kiln_quantize_row_q4_1_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q4_1_w(src, dst, n, nullptr); }
void kiln_quantize_row_q5_0_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q5_0_w(src, dst, n, nullptr); }
void kiln_quantize_row_q5_1_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_q5_1_w(src, dst, n, nullptr); }

// Q8_0 as a weight format: the scale searched like the other symmetric
// formats (never worse than amax / 127, a candidate), codes -127..127 as the
// activation quantizer makes them (the SIMD dot products rely on that).
void kiln_quantize_row_q8_0_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("Q8_0", DEFAULT_RULE_Q8_0);
  kiln_block_q8_0 *b = static_cast<kiln_block_q8_0 *>(dst);
  int codes[KILN_QK];
  float w[KILN_QK];
  const float sigma2 = kiln_mean_square(src, n);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    kiln_block_weights(src, KILN_QK, imp != nullptr ? imp + i * KILN_QK : nullptr, sigma2, RULE, w);
    b[i].d = quant_sym_block(src, w, -127, 127, codes);
    for (int j = 0; j < KILN_QK; j++) b[i].qs[j] = static_cast<int8_t>(codes[j]);
  }
}

void kiln_quantize_row_q8_0_ref(const float *src, void *dst, int64_t n) {
  kiln_block_q8_0 *b = static_cast<kiln_block_q8_0 *>(dst);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) quant_q8(src, &b[i].d, b[i].qs);
}

// s: the code sum times the unrounded scale amax / 127, then rounded to binary16, as llama.cpp's
// x86 builds make it
void kiln_quantize_row_q8_1_ref(const float *src, void *dst, int64_t n) {
  kiln_block_q8_1 *b = static_cast<kiln_block_q8_1 *>(dst);
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    const int sum = quant_q8(src, &b[i].d, b[i].qs);
    float amax = 0;
    for (int j = 0; j < KILN_QK; j++) amax = fabsf(src[j]) > amax ? fabsf(src[j]) : amax;
    b[i].s = kiln_f32_to_f16(clamp_scale(amax / 127.0f * static_cast<float>(sum)));
  }
}

void kiln_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q4_0 *x = static_cast<const kiln_block_q4_0 *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    int isum = 0;
    for (int j = 0; j < KILN_QK; j++) isum += (nibble(x[i].qs, j) - 8) * y[i].qs[j];
    sum += kiln_fp16(x[i].d) * kiln_fp16(y[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}

// The offset formats against Q8_1 as llama.cpp's x86 builds sum them: per block, the codes'
// products in eight lanes of four consecutive values, each lane's integer sum multiplied into its
// own float sum (one FMA) by d_x * d_y; the mins times the activations' binary16 sums s in one
// float; at the end the eight lanes as its hsum_float_8 adds them, then the mins.
namespace {
template <class Code>
float offset_dot(int64_t n, const Code &code, const kiln_block_q8_1 *y) {
  float acc[8] = {}, summs = 0;
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    float dx, mx;
    code.scales(i, &dx, &mx);
    summs += mx * kiln_fp16(y[i].s);
    const float dd = dx * kiln_fp16(y[i].d);
    for (int k = 0; k < 8; k++) {
      int lane = 0;
      for (int j = 4 * k; j < 4 * k + 4; j++) lane += code.q(i, j) * y[i].qs[j];
      acc[k] = fmaf(static_cast<float>(lane), dd, acc[k]);
    }
  }
  const float a = (acc[0] + acc[4]) + (acc[2] + acc[6]);
  const float b = (acc[1] + acc[5]) + (acc[3] + acc[7]);
  return (a + b) + summs;
}

struct Q41Codes {
  const kiln_block_q4_1 *x;
  void scales(int64_t i, float *d, float *m) const { *d = kiln_fp16(x[i].d), *m = kiln_fp16(x[i].m); }
  int q(int64_t i, int j) const { return nibble(x[i].qs, j); }
};

struct Q51Codes {
  const kiln_block_q5_1 *x;
  void scales(int64_t i, float *d, float *m) const { *d = kiln_fp16(x[i].d), *m = kiln_fp16(x[i].m); }
  int q(int64_t i, int j) const { return nibble(x[i].qs, j) | static_cast<int>((high_bits(x[i].qh) >> j) & 1) << 4; }
};
} // namespace

void kiln_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
  *s = offset_dot(n, Q41Codes{static_cast<const kiln_block_q4_1 *>(vx)}, static_cast<const kiln_block_q8_1 *>(vy));
}

void kiln_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q5_0 *x = static_cast<const kiln_block_q5_0 *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    const uint32_t h = high_bits(x[i].qh);
    int isum = 0;
    for (int j = 0; j < KILN_QK; j++) {
      const int q = nibble(x[i].qs, j) | static_cast<int>((h >> j) & 1) << 4;
      isum += (q - 16) * y[i].qs[j];
    }
    sum += kiln_fp16(x[i].d) * kiln_fp16(y[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}

void kiln_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *vx, const void *vy) {
  *s = offset_dot(n, Q51Codes{static_cast<const kiln_block_q5_1 *>(vx)}, static_cast<const kiln_block_q8_1 *>(vy));
}

void kiln_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q8_0 *x = static_cast<const kiln_block_q8_0 *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    int isum = 0;
    for (int j = 0; j < KILN_QK; j++) isum += x[i].qs[j] * y[i].qs[j];
    sum += kiln_fp16(x[i].d) * kiln_fp16(y[i].d) * static_cast<float>(isum);
  }
  *s = sum;
}
