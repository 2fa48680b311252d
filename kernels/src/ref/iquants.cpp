// Reference (scalar) kernels of the IQ types, TQ1_0/TQ2_0 and MXFP4.
//
// Each block is first decoded to integer weights w (the sub-block scale folded
// in) with value = dx * c * w for the block scale dx and a power-of-two c.
// Dequantization multiplies that out (dx * c is exact, then one rounding); the
// dot product sums w * q exactly and scales once per block (kiln_iq_dot_step).
#include "iquants.h"

#include <string.h>

#include "iq_tables.h"

namespace {

inline float q8k_d(const kiln_block_q8_K &y) {
  float d;
  memcpy(&d, &y.d, 4);
  return d;
}

inline int grid_byte(uint64_t g, int j) { return static_cast<int>((g >> (8 * j)) & 0xff); }
inline int grid_s8(uint64_t g, int j) { return static_cast<int8_t>((g >> (8 * j)) & 0xff); }
inline int sign_of(uint8_t bits, int j) { return (bits >> j) & 1 ? -1 : 1; }

// Integer weights of one 256-value block; returns c (value = dx * c * w).
float decode_iq2_xxs(const kiln_block_iq2_xxs &b, int16_t *w) {
  for (int g = 0; g < 8; g++) {
    uint32_t a[2];
    memcpy(a, b.qs + 4 * g, 8);
    const int sc = 2 * static_cast<int>(a[1] >> 28) + 1;
    for (int l = 0; l < 4; l++) {
      const uint64_t grid = kiln_iq2xxs_grid[(a[0] >> (8 * l)) & 0xff];
      const uint8_t signs = kiln_iq_signs8((a[1] >> (7 * l)) & 127);
      for (int j = 0; j < 8; j++) w[32 * g + 8 * l + j] = static_cast<int16_t>(sc * grid_byte(grid, j) * sign_of(signs, j));
    }
  }
  return 0.125f;
}

float decode_iq2_xs(const kiln_block_iq2_xs &b, int16_t *w) {
  for (int g = 0; g < 8; g++)
    for (int l = 0; l < 4; l++) {
      const int sc = 2 * ((b.scales[g] >> (4 * (l / 2))) & 0xf) + 1;
      const uint16_t q = b.qs[4 * g + l];
      const uint64_t grid = kiln_iq2xs_grid[q & 511];
      const uint8_t signs = kiln_iq_signs8(q >> 9);
      for (int j = 0; j < 8; j++) w[32 * g + 8 * l + j] = static_cast<int16_t>(sc * grid_byte(grid, j) * sign_of(signs, j));
    }
  return 0.125f;
}

float decode_iq2_s(const kiln_block_iq2_s &b, int16_t *w) {
  for (int g = 0; g < 8; g++)
    for (int l = 0; l < 4; l++) {
      const int sc = 2 * ((b.scales[g] >> (4 * (l / 2))) & 0xf) + 1;
      const uint64_t grid = kiln_iq2s_grid[b.qs[4 * g + l] | (((b.qh[g] >> (2 * l)) & 3) << 8)];
      const uint8_t signs = b.qs[32 + 4 * g + l];
      for (int j = 0; j < 8; j++) w[32 * g + 8 * l + j] = static_cast<int16_t>(sc * grid_byte(grid, j) * sign_of(signs, j));
    }
  return 0.125f;
}

float decode_iq3_xxs(const kiln_block_iq3_xxs &b, int16_t *w) {
  for (int g = 0; g < 8; g++) {
    uint32_t a;
    memcpy(&a, b.qs + 64 + 4 * g, 4);
    const int sc = 2 * static_cast<int>(a >> 28) + 1;
    for (int l = 0; l < 4; l++) {
      const uint8_t signs = kiln_iq_signs8((a >> (7 * l)) & 127);
      for (int h = 0; h < 2; h++) {
        const uint32_t grid = kiln_iq3xxs_grid[b.qs[8 * g + 2 * l + h]];
        for (int j = 0; j < 4; j++)
          w[32 * g + 8 * l + 4 * h + j] = static_cast<int16_t>(sc * grid_byte(grid, j) * sign_of(signs, 4 * h + j));
      }
    }
  }
  return 0.25f;
}

float decode_iq3_s(const kiln_block_iq3_s &b, int16_t *w) {
  for (int g = 0; g < 8; g++) {
    const int sc = 2 * ((b.scales[g / 2] >> (4 * (g % 2))) & 0xf) + 1;
    for (int k = 0; k < 8; k++) {
      const uint32_t grid = kiln_iq3s_grid[b.qs[8 * g + k] | (((b.qh[g] >> k) & 1) << 8)];
      const uint8_t signs = b.signs[4 * g + k / 2];
      for (int j = 0; j < 4; j++)
        w[32 * g + 4 * k + j] = static_cast<int16_t>(sc * grid_byte(grid, j) * sign_of(signs, 4 * (k % 2) + j));
    }
  }
  return 1.0f;
}

float decode_iq1_s(const kiln_block_iq1_s &b, int16_t *w) {
  for (int g = 0; g < 8; g++) {
    const uint16_t qh = b.qh[g];
    const int sc = 2 * ((qh >> 12) & 7) + 1;
    const int delta = qh & 0x8000 ? -1 : 1;
    for (int l = 0; l < 4; l++) {
      const uint64_t grid = kiln_iq1s_grid[b.qs[4 * g + l] | (((qh >> (3 * l)) & 7) << 8)];
      for (int j = 0; j < 8; j++) w[32 * g + 8 * l + j] = static_cast<int16_t>(sc * (8 * grid_s8(grid, j) + delta));
    }
  }
  return 0.125f;
}

float decode_iq1_m(const kiln_block_iq1_m &b, int16_t *w) {
  uint16_t sc[4];
  memcpy(sc, b.scales, 8);
  for (int g = 0; g < 8; g++)
    for (int l = 0; l < 4; l++) {
      const int s = 2 * ((sc[g / 2] >> (6 * (g % 2) + 3 * (l / 2))) & 7) + 1;
      const int nib = (b.qh[2 * g + l / 2] >> (4 * (l % 2))) & 0xf;
      const uint64_t grid = kiln_iq1s_grid[b.qs[4 * g + l] | ((nib & 7) << 8)];
      const int delta = nib & 8 ? -1 : 1;
      for (int j = 0; j < 8; j++) w[32 * g + 8 * l + j] = static_cast<int16_t>(s * (8 * grid_s8(grid, j) + delta));
    }
  return 0.125f;
}

float decode_iq4_xs(const kiln_block_iq4_xs &b, int16_t *w) {
  for (int g = 0; g < 8; g++) {
    const int ls = kiln_iq4xs_scale(b, g);
    for (int j = 0; j < 16; j++) {
      w[32 * g + j] = static_cast<int16_t>(ls * kiln_kvalues_iq4nl[b.qs[16 * g + j] & 0xf]);
      w[32 * g + j + 16] = static_cast<int16_t>(ls * kiln_kvalues_iq4nl[b.qs[16 * g + j] >> 4]);
    }
  }
  return 1.0f;
}

float decode_tq1_0(const kiln_block_tq1_0 &b, int16_t *w) {
  uint8_t t[KILN_QK_K];
  kiln_tq1_trits(b, t);
  for (int e = 0; e < KILN_QK_K; e++) w[e] = static_cast<int16_t>(t[e] - 1);
  return 1.0f;
}

float decode_tq2_0(const kiln_block_tq2_0 &b, int16_t *w) {
  for (int e = 0; e < KILN_QK_K; e++) w[e] = static_cast<int16_t>(((b.qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3) - 1);
  return 1.0f;
}

template <class B> float block_d(const B &b) { return kiln_fp16(b.d); }
template <> float block_d(const kiln_block_iq1_m &b) { return kiln_fp16(kiln_iq1m_d_bits(b.scales)); }

template <class B, float (*Decode)(const B &, int16_t *)>
void dequant_k(const void *src, float *dst, int64_t n) {
  const B *x = static_cast<const B *>(src);
  int16_t w[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const float dc = block_d(x[i]) * Decode(x[i], w);
    for (int e = 0; e < KILN_QK_K; e++) dst[KILN_QK_K * i + e] = dc * static_cast<float>(w[e]);
  }
}

template <class B, float (*Decode)(const B &, int16_t *)>
void dot_k(int64_t n, float *s, const void *vx, const void *vy) {
  const B *x = static_cast<const B *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  int16_t w[KILN_QK_K];
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const float c = Decode(x[i], w);
    int32_t sumi = 0;
    for (int e = 0; e < KILN_QK_K; e++) sumi += w[e] * y[i].qs[e];
    sum = kiln_iq_dot_step(sum, block_d(x[i]), q8k_d(y[i]), c, sumi);
  }
  *s = sum;
}

} // namespace

void kiln_dequantize_row_iq2_xxs(const void *s, float *d, int64_t n) { dequant_k<kiln_block_iq2_xxs, decode_iq2_xxs>(s, d, n); }
void kiln_dequantize_row_iq2_xs(const void *s, float *d, int64_t n) { dequant_k<kiln_block_iq2_xs, decode_iq2_xs>(s, d, n); }
void kiln_dequantize_row_iq2_s(const void *s, float *d, int64_t n) { dequant_k<kiln_block_iq2_s, decode_iq2_s>(s, d, n); }
void kiln_dequantize_row_iq3_xxs(const void *s, float *d, int64_t n) { dequant_k<kiln_block_iq3_xxs, decode_iq3_xxs>(s, d, n); }
void kiln_dequantize_row_iq3_s(const void *s, float *d, int64_t n) { dequant_k<kiln_block_iq3_s, decode_iq3_s>(s, d, n); }
void kiln_dequantize_row_iq1_s(const void *s, float *d, int64_t n) { dequant_k<kiln_block_iq1_s, decode_iq1_s>(s, d, n); }
void kiln_dequantize_row_iq1_m(const void *s, float *d, int64_t n) { dequant_k<kiln_block_iq1_m, decode_iq1_m>(s, d, n); }
void kiln_dequantize_row_tq1_0(const void *s, float *d, int64_t n) { dequant_k<kiln_block_tq1_0, decode_tq1_0>(s, d, n); }
void kiln_dequantize_row_tq2_0(const void *s, float *d, int64_t n) { dequant_k<kiln_block_tq2_0, decode_tq2_0>(s, d, n); }

// IQ4_XS as (d * (ls - 32)) * level: the same real value as dx * w, but a zero
// scale then keeps the level's sign on a zero result, as gguf-py's does.
void kiln_dequantize_row_iq4_xs(const void *src, float *dst, int64_t n) {
  const kiln_block_iq4_xs *x = static_cast<const kiln_block_iq4_xs *>(src);
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const float d = kiln_fp16(x[i].d);
    float *o = dst + KILN_QK_K * i;
    for (int g = 0; g < 8; g++) {
      const float dl = d * static_cast<float>(kiln_iq4xs_scale(x[i], g));
      for (int j = 0; j < 16; j++) {
        o[32 * g + j] = dl * static_cast<float>(kiln_kvalues_iq4nl[x[i].qs[16 * g + j] & 0xf]);
        o[32 * g + j + 16] = dl * static_cast<float>(kiln_kvalues_iq4nl[x[i].qs[16 * g + j] >> 4]);
      }
    }
  }
}

void kiln_dequantize_row_iq4_nl(const void *src, float *dst, int64_t n) {
  const kiln_block_iq4_nl *x = static_cast<const kiln_block_iq4_nl *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    const float d = kiln_fp16(x[i].d);
    for (int j = 0; j < 16; j++) {
      dst[KILN_QK * i + j] = d * static_cast<float>(kiln_kvalues_iq4nl[x[i].qs[j] & 0xf]);
      dst[KILN_QK * i + j + 16] = d * static_cast<float>(kiln_kvalues_iq4nl[x[i].qs[j] >> 4]);
    }
  }
}

void kiln_dequantize_row_mxfp4(const void *src, float *dst, int64_t n) {
  const kiln_block_mxfp4 *x = static_cast<const kiln_block_mxfp4 *>(src);
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    const float d = kiln_e8m0_half(x[i].e);
    for (int j = 0; j < 16; j++) {
      dst[KILN_QK * i + j] = d * static_cast<float>(kiln_kvalues_mxfp4[x[i].qs[j] & 0xf]);
      dst[KILN_QK * i + j + 16] = d * static_cast<float>(kiln_kvalues_mxfp4[x[i].qs[j] >> 4]);
    }
  }
}

void kiln_vec_dot_iq2_xxs_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq2_xxs, decode_iq2_xxs>(n, s, x, y); }
void kiln_vec_dot_iq2_xs_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq2_xs, decode_iq2_xs>(n, s, x, y); }
void kiln_vec_dot_iq2_s_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq2_s, decode_iq2_s>(n, s, x, y); }
void kiln_vec_dot_iq3_xxs_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq3_xxs, decode_iq3_xxs>(n, s, x, y); }
void kiln_vec_dot_iq3_s_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq3_s, decode_iq3_s>(n, s, x, y); }
void kiln_vec_dot_iq1_s_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq1_s, decode_iq1_s>(n, s, x, y); }
void kiln_vec_dot_iq1_m_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq1_m, decode_iq1_m>(n, s, x, y); }
void kiln_vec_dot_iq4_xs_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_iq4_xs, decode_iq4_xs>(n, s, x, y); }
void kiln_vec_dot_tq1_0_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_tq1_0, decode_tq1_0>(n, s, x, y); }
void kiln_vec_dot_tq2_0_q8_K(int64_t n, float *s, const void *x, const void *y) { dot_k<kiln_block_tq2_0, decode_tq2_0>(n, s, x, y); }

void kiln_vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_iq4_nl *x = static_cast<const kiln_block_iq4_nl *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    int32_t sumi = 0;
    for (int j = 0; j < 16; j++)
      sumi += kiln_kvalues_iq4nl[x[i].qs[j] & 0xf] * y[i].qs[j] + kiln_kvalues_iq4nl[x[i].qs[j] >> 4] * y[i].qs[j + 16];
    sum = kiln_iq_dot_step(sum, kiln_fp16(x[i].d), kiln_fp16(y[i].d), 1.0f, sumi);
  }
  *s = sum;
}

void kiln_vec_dot_mxfp4_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_mxfp4 *x = static_cast<const kiln_block_mxfp4 *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    int32_t sumi = 0;
    for (int j = 0; j < 16; j++)
      sumi += kiln_kvalues_mxfp4[x[i].qs[j] & 0xf] * y[i].qs[j] + kiln_kvalues_mxfp4[x[i].qs[j] >> 4] * y[i].qs[j + 16];
    sum = kiln_iq_dot_step(sum, kiln_e8m0_half(x[i].e), kiln_fp16(y[i].d), 1.0f, sumi);
  }
  *s = sum;
}
