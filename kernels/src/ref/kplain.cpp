// The "plain" Q3_K and Q4_K quantizers: one pass, no search over the stored
// codes (kplain.h). Written from the algorithm llama.cpp's quantizer uses
// for these types when it has no importance matrix: sub-block fits weighted
// by the values themselves, the largest sub-block scale on the top code,
// every other code simply rounded.
#include "kplain.h"

#include <math.h>
#include <string.h>

#include "blocks.h"
#include "kcodes.h"
#include "kpack.h"

namespace {

const float ZERO_EPS = 1e-15f;

// One Q3_K sub-block (values -4..3): the signed scale s with the codes q
// from rounding x / s, fitted to minimize sum x_i^2 (s q_i - x_i)^2. Start
// from the value of largest magnitude on -4, then move single codes while
// that raises the fit's explained part (sum w x q)^2 / sum w q^2, up to five
// sweeps. Returns 0 for an all-zero block.
float q3_sub_scale(const float *x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; i++)
    if (fabsf(x[i]) > amax) {
      amax = fabsf(x[i]);
      max = x[i];
    }
  if (amax < ZERO_EPS) return 0.0f;
  const float inv = -4.0f / max;
  int q[16];
  float sxq = 0, sqq = 0;
  for (int i = 0; i < n; i++) {
    q[i] = kiln_clamp(kiln_round(inv * x[i]), -4, 3);
    const float w = x[i] * x[i];
    sxq += w * x[i] * static_cast<float>(q[i]);
    sqq += w * static_cast<float>(q[i] * q[i]);
  }
  for (int sweep = 0; sweep < 5; sweep++) {
    bool moved = false;
    for (int i = 0; i < n; i++) {
      const float w = x[i] * x[i];
      const float qi = static_cast<float>(q[i]);
      float a = sxq - w * x[i] * qi;
      if (!(a > 0)) continue;
      float b = sqq - w * qi * qi;
      const int nq = kiln_clamp(kiln_round(x[i] * b / a), -4, 3);
      if (nq == q[i]) continue;
      a += w * x[i] * static_cast<float>(nq);
      b += w * static_cast<float>(nq * nq);
      if (b > 0 && a * a * sqq > sxq * sxq * b) {
        q[i] = nq;
        sxq = a;
        sqq = b;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return sqq > 0 ? sxq / sqq : 0.0f;
}

// One Q4_K sub-block: (scale, min) with x ~ scale * q - min, q in 0..15,
// min >= 0, minimizing sum w_i (scale q_i - min - x_i)^2 over 21 stretches of
// the range [min(x, 0), max(x)] onto 14 .. 16 levels (each with the weighted
// least-squares scale and offset of its codes), keeping the first best.
float q4_sub_fit(const float *x, const float *w, int n, float *min_out) {
  float lo = x[0], hi = x[0], sw = w[0], swx = w[0] * x[0];
  for (int i = 1; i < n; i++) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    sw += w[i];
    swx += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    *min_out = -lo;
    return 0.0f;
  }
  // the plain stretch onto 15 levels is the first candidate
  const float inv0 = 15.0f / (hi - lo);
  float scale = 1.0f / inv0, off = lo, best = 0;
  for (int i = 0; i < n; i++) {
    const int c = kiln_clamp(kiln_round(inv0 * (x[i] - lo)), 0, 15);
    const float e = scale * static_cast<float>(c) + lo - x[i];
    best += w[i] * e * e;
  }
  uint8_t q[32];
  for (int step = 0; step <= 20; step++) {
    const float inv = (-1.0f + 0.1f * static_cast<float>(step) + 15.0f) / (hi - lo);
    float sl = 0, sll = 0, sxl = 0;
    for (int i = 0; i < n; i++) {
      const int c = kiln_clamp(kiln_round(inv * (x[i] - lo)), 0, 15);
      q[i] = static_cast<uint8_t>(c);
      const float l = static_cast<float>(c);
      sl += w[i] * l;
      sll += w[i] * l * l;
      sxl += w[i] * l * x[i];
    }
    const float det = sw * sll - sl * sl;
    if (!(det > 0)) continue;
    float s = (sw * sxl - swx * sl) / det;
    float m = (sll * swx - sl * sxl) / det;
    if (m > 0) {
      m = 0;
      s = sxl / sll;
    }
    float err = 0;
    for (int i = 0; i < n; i++) {
      const float e = s * static_cast<float>(q[i]) + m - x[i];
      err += w[i] * e * e;
    }
    if (err < best) {
      best = err;
      scale = s;
      off = m;
    }
  }
  *min_out = -off;
  return scale;
}

} // namespace

void kiln_quantize_row_q3_K_plain(const float *src, void *dst, int64_t n) {
  kiln_block_q3_K *b = static_cast<kiln_block_q3_K *>(dst);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    float s[16], amax = 0, top = 0;
    for (int j = 0; j < 16; j++) {
      s[j] = q3_sub_scale(src + 16 * j, 16);
      if (fabsf(s[j]) > amax) {
        amax = fabsf(s[j]);
        top = s[j];
      }
    }
    int sc[16] = {0};
    float d = 0;
    if (top != 0) {
      const float inv = -32.0f / top;
      for (int j = 0; j < 16; j++) sc[j] = kiln_clamp(kiln_round(inv * s[j]), -32, 31);
      d = 1.0f / inv;
    }
    b[i].d = kiln_f32_to_f16(d);
    kiln_q3k_pack_scales(sc, b[i].scales);
    memset(b[i].qs, 0, sizeof b[i].qs);
    memset(b[i].hmask, 0, sizeof b[i].hmask);
    const float df = kiln_fp16(b[i].d);
    for (int j = 0; j < 16; j++) {
      const float dl = df * static_cast<float>(sc[j]);
      for (int e = 16 * j; e < 16 * j + 16; e++)
        kiln_q3k_set(b[i].qs, b[i].hmask, e, dl != 0 ? kiln_clamp(kiln_round(src[e] / dl), -4, 3) : 0);
    }
  }
}

void kiln_quantize_row_q4_K_plain(const float *src, void *dst, int64_t n) {
  kiln_block_q4_K *b = static_cast<kiln_block_q4_K *>(dst);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    float s[8], m[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
      const float *x = src + 32 * j;
      float ss = 0;
      for (int e = 0; e < 32; e++) ss += x[e] * x[e];
      const float av = sqrtf(ss / 32);
      float w[32];
      for (int e = 0; e < 32; e++) w[e] = av + fabsf(x[e]);
      s[j] = q4_sub_fit(x, w, 32, &m[j]);
      smax = s[j] > smax ? s[j] : smax;
      mmax = m[j] > mmax ? m[j] : mmax;
    }
    const float is = smax > 0 ? 63.0f / smax : 0.0f, im = mmax > 0 ? 63.0f / mmax : 0.0f;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
      sc[j] = static_cast<uint8_t>(kiln_clamp(kiln_round(is * s[j]), 0, 63));
      mn[j] = static_cast<uint8_t>(kiln_clamp(kiln_round(im * m[j]), 0, 63));
    }
    b[i].d = kiln_f32_to_f16(smax / 63.0f);
    b[i].dmin = kiln_f32_to_f16(mmax / 63.0f);
    kiln_q4k_pack_scales(sc, mn, b[i].scales);
    memset(b[i].qs, 0, sizeof b[i].qs);
    const float df = kiln_fp16(b[i].d), dmf = kiln_fp16(b[i].dmin);
    for (int j = 0; j < 8; j++) {
      const float dl = df * static_cast<float>(sc[j]), ml = dmf * static_cast<float>(mn[j]);
      for (int e = 32 * j; e < 32 * j + 32; e++)
        kiln_q4k_set(b[i].qs, e, dl != 0 ? kiln_clamp(kiln_round((src[e] + ml) / dl), 0, 15) : 0);
    }
  }
}
