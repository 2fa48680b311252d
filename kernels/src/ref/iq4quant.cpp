// Quantizers of IQ4_NL and IQ4_XS: 4-bit codes into the 16 non-linear levels
// kiln_kvalues_iq4nl, one scale per 32 values (IQ4_NL: binary16; IQ4_XS: a
// 6-bit signed code times a binary16 super-block scale).
//
// Search, per group of 32 (weights.h gives the weight of each value's error):
//  1. candidate scales map the value of largest magnitude onto either end of
//     the level table (-127 or 113), shifted by whole steps either way; each
//     candidate's codes (nearest level) get the weighted least-squares scale,
//     and the candidate that removes the most weighted error wins;
//  2. the winner is polished: re-round at its own scale, re-fit, while the
//     error falls;
//  3. the scale is rounded as stored (IQ4_XS: several super-block scales, and
//     each group tries the codes either side of its rounded one), and the
//     codes are re-chosen at the stored scale, keeping the least error of the
//     values exactly as dequantized.
#include <math.h>
#include <string.h>

#include "half.h"
#include "iq_tables.h"
#include "iquants.h"
#include "weights.h"

namespace {

const kiln_weight_rule DEFAULT_RULE_IQ4_NL = KILN_W_AVABS;
const kiln_weight_rule DEFAULT_RULE_IQ4_XS = KILN_W_ABS;

struct Midpoints {
  float m[15];
  Midpoints() {
    for (int i = 0; i < 15; i++) m[i] = 0.5f * (kiln_kvalues_iq4nl[i] + kiln_kvalues_iq4nl[i + 1]);
  }
};
const Midpoints MID;

// Index of the level nearest to v (the count of midpoints below v).
inline int nearest_level(float v) {
  int i = 0;
  for (int s = 8; s > 0; s >>= 1)
    if (i + s <= 15 && v > MID.m[i + s - 1]) i += s;
  return i;
}

// Codes for x / s (nearest level); returns sum w q x and sum w q q.
inline void round_group(const float *x, const float *w, int n, float inv, double *sqx, double *sq2, uint8_t *q) {
  double a = 0, b = 0;
  for (int j = 0; j < n; j++) {
    const int l = nearest_level(inv * x[j]);
    if (q != nullptr) q[j] = static_cast<uint8_t>(l);
    const double v = kiln_kvalues_iq4nl[l];
    a += w[j] * v * x[j];
    b += w[j] * v * v;
  }
  *sqx = a;
  *sq2 = b;
}

// Weighted squared error of the values at scale s with the nearest codes (written to q when given).
double group_err(const float *x, const float *w, int n, float s, uint8_t *q) {
  double e = 0;
  const float inv = s != 0 ? 1.0f / s : 0.0f;
  for (int j = 0; j < n; j++) {
    const int l = s != 0 ? nearest_level(inv * x[j]) : 8;
    if (q != nullptr) q[j] = static_cast<uint8_t>(l);
    const double y = static_cast<double>(s) * kiln_kvalues_iq4nl[l] - x[j];
    e += w[j] * y * y;
  }
  return e;
}

const int STEPS = 10; // candidate shifts either side of each end of the table

// The float scale of a group (step 1 and 2 above); 0 for an all-zero group.
float fit_group(const float *x, const float *w, int n) {
  float amax = 0, m = 0;
  for (int j = 0; j < n; j++)
    if (fabsf(x[j]) > amax) {
      amax = fabsf(x[j]);
      m = x[j];
    }
  if (!(amax > 1e-15f) || !isfinite(amax)) return 0.0f;
  double best_gain = 0;
  float best = 0;
  const float ends[2] = {static_cast<float>(kiln_kvalues_iq4nl[0]), static_cast<float>(kiln_kvalues_iq4nl[15])};
  for (float end : ends)
    for (int t = -STEPS; t <= STEPS; t++) {
      double sqx, sq2;
      round_group(x, w, n, (end + static_cast<float>(t)) / m, &sqx, &sq2, nullptr);
      if (sq2 > 0 && sqx * sqx > best_gain * sq2) {
        best_gain = sqx * sqx / sq2;
        best = static_cast<float>(sqx / sq2);
      }
    }
  for (int it = 0; it < 6 && best != 0; it++) {
    double sqx, sq2;
    round_group(x, w, n, 1.0f / best, &sqx, &sq2, nullptr);
    if (!(sq2 > 0 && sqx * sqx > best_gain * sq2 * (1 + 1e-9))) break;
    best_gain = sqx * sqx / sq2;
    best = static_cast<float>(sqx / sq2);
  }
  return best;
}

inline void pack_nibbles(const uint8_t *q, uint8_t *qs) {
  for (int j = 0; j < 16; j++) qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
}

} // namespace

// IQ4_NL: blocks of 32, one binary16 scale each.
void kiln_quantize_row_iq4_nl_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("IQ4_NL", DEFAULT_RULE_IQ4_NL);
  kiln_block_iq4_nl *b = static_cast<kiln_block_iq4_nl *>(dst);
  float w[KILN_QK];
  uint8_t q[KILN_QK];
  for (int64_t i = 0; i < n / KILN_QK; i++, src += KILN_QK) {
    kiln_block_weights(src, KILN_QK, imp != nullptr ? imp + i * KILN_QK : nullptr, 2 * kiln_mean_square(src, KILN_QK), RULE, w);
    const float s = fit_group(src, w, KILN_QK);
    // the stored scale, and its neighbours in binary16, each with its own codes
    uint16_t h = kiln_f32_to_f16(s);
    double best = group_err(src, w, KILN_QK, kiln_fp16(h), q);
    const uint16_t h0 = h;
    for (int dh = -1; dh <= 1; dh += 2) {
      const uint16_t c = static_cast<uint16_t>(h0 + dh);
      if ((c & 0x7c00u) == 0x7c00u || ((c ^ h0) & 0x8000u)) continue; // no inf/NaN, no sign flip
      const double e = group_err(src, w, KILN_QK, kiln_fp16(c), nullptr);
      if (e < best) {
        best = e;
        h = c;
      }
    }
    group_err(src, w, KILN_QK, kiln_fp16(h), q);
    b[i].d = h;
    pack_nibbles(q, b[i].qs);
  }
}

// IQ4_XS: super-blocks of 256 = 8 groups of 32, value = d * ls * level,
// ls a 6-bit code in [-32, 31].
void kiln_quantize_row_iq4_xs_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const kiln_weight_rule RULE = kiln_rule_for("IQ4_XS", DEFAULT_RULE_IQ4_XS);
  kiln_block_iq4_xs *b = static_cast<kiln_block_iq4_xs *>(dst);
  float w[KILN_QK_K];
  float s[8];
  uint8_t q[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    kiln_block_weights(src, KILN_QK_K, imp != nullptr ? imp + i * KILN_QK_K : nullptr, 2 * kiln_mean_square(src, KILN_QK_K), RULE, w);
    float max_scale = 0;
    for (int g = 0; g < 8; g++) {
      s[g] = fit_group(src + 32 * g, w + 32 * g, 32);
      if (fabsf(s[g]) > fabsf(max_scale)) max_scale = s[g];
    }
    memset(&b[i], 0, sizeof b[i]);
    if (max_scale == 0) continue; // d = 0: every value is zero
    // super-block scale candidates: the largest group scale on code -32 (the
    // longer end) or 31, or a step inside either end
    static const float CODES[] = {-32.0f, -31.0f, -30.0f, 31.0f, 30.0f, 29.0f};
    double best_total = INFINITY;
    uint16_t best_h = 0;
    int best_ls[8] = {0};
    for (float c : CODES) {
      const uint16_t h = kiln_f32_to_f16(max_scale / c);
      const float d = kiln_fp16(h);
      if (!(d != 0) || !isfinite(d)) continue;
      double total = 0;
      int ls[8];
      for (int g = 0; g < 8 && total < best_total; g++) {
        int l0 = static_cast<int>(lrintf(s[g] / d));
        l0 = l0 < -32 ? -32 : l0 > 31 ? 31 : l0;
        double ge = INFINITY;
        for (int l = l0 - 1; l <= l0 + 1; l++) {
          if (l < -32 || l > 31) continue;
          const double e = group_err(src + 32 * g, w + 32 * g, 32, d * static_cast<float>(l), nullptr);
          if (e < ge) {
            ge = e;
            ls[g] = l;
          }
        }
        total += ge;
      }
      if (total < best_total) {
        best_total = total;
        best_h = h;
        memcpy(best_ls, ls, sizeof ls);
      }
    }
    const float d = kiln_fp16(best_h);
    b[i].d = best_h;
    for (int g = 0; g < 8; g++) {
      group_err(src + 32 * g, w + 32 * g, 32, d * static_cast<float>(best_ls[g]), q + 32 * g);
      const int code = best_ls[g] + 32;
      b[i].scales_l[g / 2] |= static_cast<uint8_t>((code & 0xf) << (4 * (g % 2)));
      b[i].scales_h |= static_cast<uint16_t>((code >> 4) << (2 * g));
      pack_nibbles(q + 32 * g, b[i].qs + 16 * g);
    }
  }
}

void kiln_quantize_row_iq4_nl_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq4_nl_w(src, dst, n, nullptr); }
void kiln_quantize_row_iq4_xs_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq4_xs_w(src, dst, n, nullptr); }
