// Reference dot products of K-format weight rows with Q8_K activations: exact
// integer sums per sub-block, one float scaling per super-block. The offset
// formats take the activation side of their min term from Q8_K's block sums.
#include <string.h>

#include "blocks.h"
#include "kcodes.h"
#include "kpack.h"
#include "kquants.h"

namespace {

inline float q8k_d(const kiln_block_q8_K &y) {
  float d;
  memcpy(&d, &y.d, 4);
  return d;
}

} // namespace

void kiln_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q2_K *x = static_cast<const kiln_block_q2_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sum_sc = 0, sum_mn = 0;
    for (int j = 0; j < 16; j++) {
      int isum = 0;
      for (int e = 16 * j; e < 16 * j + 16; e++) isum += kiln_q2k_code(x[i].qs, e) * y[i].qs[e];
      sum_sc += (x[i].scales[j] & 0xf) * isum;
      sum_mn += (x[i].scales[j] >> 4) * y[i].bsums[j];
    }
    const float dy = q8k_d(y[i]);
    sum += dy * kiln_fp16(x[i].d) * static_cast<float>(sum_sc) - dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = sum;
}

void kiln_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q3_K *x = static_cast<const kiln_block_q3_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sumi = 0;
    for (int j = 0; j < 16; j++) {
      int isum = 0;
      for (int e = 16 * j; e < 16 * j + 16; e++) isum += kiln_q3k_code(x[i].qs, x[i].hmask, e) * y[i].qs[e];
      sumi += kiln_q3k_scale(j, x[i].scales) * isum;
    }
    sum += q8k_d(y[i]) * kiln_fp16(x[i].d) * static_cast<float>(sumi);
  }
  *s = sum;
}

void kiln_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q4_K *x = static_cast<const kiln_block_q4_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sum_sc = 0, sum_mn = 0;
    for (int j = 0; j < 8; j++) {
      int sc, mn;
      kiln_q4k_scale_min(j, x[i].scales, &sc, &mn);
      int isum = 0;
      for (int e = 32 * j; e < 32 * j + 32; e++) isum += kiln_q4k_code(x[i].qs, e) * y[i].qs[e];
      sum_sc += sc * isum;
      sum_mn += mn * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    const float dy = q8k_d(y[i]);
    sum += dy * kiln_fp16(x[i].d) * static_cast<float>(sum_sc) - dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = sum;
}

void kiln_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q5_K *x = static_cast<const kiln_block_q5_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sum_sc = 0, sum_mn = 0;
    for (int j = 0; j < 8; j++) {
      int sc, mn;
      kiln_q4k_scale_min(j, x[i].scales, &sc, &mn);
      int isum = 0;
      for (int e = 32 * j; e < 32 * j + 32; e++) isum += kiln_q5k_code(x[i].qs, x[i].qh, e) * y[i].qs[e];
      sum_sc += sc * isum;
      sum_mn += mn * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    }
    const float dy = q8k_d(y[i]);
    sum += dy * kiln_fp16(x[i].d) * static_cast<float>(sum_sc) - dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = sum;
}

void kiln_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q6_K *x = static_cast<const kiln_block_q6_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sumi = 0;
    for (int j = 0; j < 16; j++) {
      int isum = 0;
      for (int e = 16 * j; e < 16 * j + 16; e++) isum += kiln_q6k_code(x[i].ql, x[i].qh, e) * y[i].qs[e];
      sumi += x[i].scales[j] * isum;
    }
    sum += q8k_d(y[i]) * kiln_fp16(x[i].d) * static_cast<float>(sumi);
  }
  *s = sum;
}
