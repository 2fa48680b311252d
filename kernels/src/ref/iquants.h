// Block layouts and reference kernels of the IQ types, TQ1_0/TQ2_0 and MXFP4
// (llama.cpp's type ids and on-disk blocks; the code is ours).
//
// Dot products: each is an exact integer sum over a block (sub-block scales
// folded in as integers), scaled once per block in float by dot_scale() below.
// The SIMD variants compute the same integers and the same float expression,
// so every variant equals the reference bit for bit.
#pragma once
#include <stdint.h>

#include "blocks.h"

// IQ2_XXS: 8 groups of 32; group g is qs[4g..4g+3] as two u32: bytes of the
// first are 4 grid indices (8 values each), the second holds four 7-bit sign
// codes and a 4-bit scale ls on top. value = d * (0.5 + ls) / 4 * grid * sign.
struct kiln_block_iq2_xxs {
  uint16_t d;
  uint16_t qs[KILN_QK_K / 8];
};
// IQ2_XS: qs[4g + l] = 9-bit grid index | 7-bit sign code << 9; scales[g]
// low nibble for l = 0, 1 and high nibble for l = 2, 3 (as in IQ2_XXS).
struct kiln_block_iq2_xs {
  uint16_t d;
  uint16_t qs[KILN_QK_K / 8];
  uint8_t scales[KILN_QK_K / 32];
};
// IQ2_S: grid index qs[4g + l] | bits 2l..2l+1 of qh[g] << 8 (1024 points),
// sign byte qs[32 + 4g + l], scales as IQ2_XS.
struct kiln_block_iq2_s {
  uint16_t d;
  uint8_t qs[KILN_QK_K / 4];
  uint8_t qh[KILN_QK_K / 32];
  uint8_t scales[KILN_QK_K / 32];
};
// IQ3_XXS: qs[0..63] grid indices (4 values each), then 8 u32 of four 7-bit
// sign codes and a scale ls on top: value = d * (0.5 + ls) / 2 * grid * sign.
struct kiln_block_iq3_xxs {
  uint16_t d;
  uint8_t qs[3 * KILN_QK_K / 8];
};
// IQ3_S: grid index qs[8g + k] | bit k of qh[g] << 8 (512 points), sign
// bytes signs[4g..4g+3], 4-bit scale s (nibble g % 2 of scales[g / 2]):
// value = d * (1 + 2s) * grid * sign.
struct kiln_block_iq3_s {
  uint16_t d;
  uint8_t qs[KILN_QK_K / 4];
  uint8_t qh[KILN_QK_K / 32];
  uint8_t signs[KILN_QK_K / 8];
  uint8_t scales[KILN_QK_K / 64];
};
// IQ1_S: grid index qs[4g + l] | bits 3l..3l+2 of qh[g] << 8 (2048 points),
// scale s = bits 12..14 of qh[g], bit 15 the delta's sign:
// value = d * (2s + 1) * (grid + delta).
struct kiln_block_iq1_s {
  uint16_t d;
  uint8_t qs[KILN_QK_K / 8];
  uint16_t qh[KILN_QK_K / 32];
};
// IQ1_M: no d field: binary16 d is the top nibbles of the four u16 scales.
// Grid index qs[4g + l] | 3 bits of qh[2g + l / 2] (nibble l % 2) << 8, bit 3
// of that nibble the delta's sign; 3-bit scales, one per 16 values.
struct kiln_block_iq1_m {
  uint8_t qs[KILN_QK_K / 8];
  uint8_t qh[KILN_QK_K / 16];
  uint8_t scales[KILN_QK_K / 32];
};
// IQ4_NL: Q4_0's layout with the non-linear levels kiln_kvalues_iq4nl.
struct kiln_block_iq4_nl {
  uint16_t d;
  uint8_t qs[KILN_QK / 2];
};
// IQ4_XS: 8 groups of 32 with a 6-bit scale ls (low 4 bits nibble g % 2 of
// scales_l[g / 2], high 2 bits at 2g of scales_h): value = d * (ls - 32) * kv;
// group g's nibbles are qs[16g..16g+15] as in IQ4_NL.
struct kiln_block_iq4_xs {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[KILN_QK_K / 64];
  uint8_t qs[KILN_QK_K / 2];
};
// TQ1_0: ternary digits packed 5 per byte (qs) and 4 per byte (qh) as
// fixed-point fractions of 243: value = d * (trit - 1).
struct kiln_block_tq1_0 {
  uint8_t qs[(KILN_QK_K - 4 * KILN_QK_K / 64) / 5];
  uint8_t qh[KILN_QK_K / 64];
  uint16_t d;
};
// TQ2_0: 2-bit codes, value e = 128h + 32l + m is bits 2l of qs[32h + m]:
// value = d * (code - 1).
struct kiln_block_tq2_0 {
  uint8_t qs[KILN_QK_K / 4];
  uint16_t d;
};
// MXFP4: E8M0 exponent e, then Q4_0-ordered nibbles of e2m1 codes.
struct kiln_block_mxfp4 {
  uint8_t e;
  uint8_t qs[KILN_QK / 2];
};

static_assert(sizeof(kiln_block_iq2_xxs) == 66, "IQ2_XXS block is 66 bytes");
static_assert(sizeof(kiln_block_iq2_xs) == 74, "IQ2_XS block is 74 bytes");
static_assert(sizeof(kiln_block_iq2_s) == 82, "IQ2_S block is 82 bytes");
static_assert(sizeof(kiln_block_iq3_xxs) == 98, "IQ3_XXS block is 98 bytes");
static_assert(sizeof(kiln_block_iq3_s) == 110, "IQ3_S block is 110 bytes");
static_assert(sizeof(kiln_block_iq1_s) == 50, "IQ1_S block is 50 bytes");
static_assert(sizeof(kiln_block_iq1_m) == 56, "IQ1_M block is 56 bytes");
static_assert(sizeof(kiln_block_iq4_nl) == 18, "IQ4_NL block is 18 bytes");
static_assert(sizeof(kiln_block_iq4_xs) == 136, "IQ4_XS block is 136 bytes");
static_assert(sizeof(kiln_block_tq1_0) == 54, "TQ1_0 block is 54 bytes");
static_assert(sizeof(kiln_block_tq2_0) == 66, "TQ2_0 block is 66 bytes");
static_assert(sizeof(kiln_block_mxfp4) == 17, "MXFP4 block is 17 bytes");

// IQ1_M's binary16 block scale, assembled from the scale words' top nibbles.
static inline uint16_t kiln_iq1m_d_bits(const uint8_t *scales) {
  uint16_t sc[4];
  __builtin_memcpy(sc, scales, 8);
  return static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
}

// The one float step of every dot product here: block scale dx * dy times the
// format's power-of-two factor c, times the block's exact integer sum.
static inline float kiln_iq_dot_step(float sum, float dx, float dy, float c, int32_t sumi) {
  return sum + dx * dy * c * static_cast<float>(sumi);
}

// IQ4_XS's 6-bit scale of group g, minus 32.
static inline int kiln_iq4xs_scale(const kiln_block_iq4_xs &b, int g) {
  return (((b.scales_l[g / 2] >> (4 * (g % 2))) & 0xf) | (((b.scales_h >> (2 * g)) & 3) << 4)) - 32;
}

// The 256 trits of a TQ1_0 block, each 0..2, in value order.
static inline void kiln_tq1_trits(const kiln_block_tq1_0 &b, uint8_t *t) {
  static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
  for (int n = 0; n < 5; n++)
    for (int m = 0; m < 32; m++) t[32 * n + m] = static_cast<uint8_t>((static_cast<uint8_t>(b.qs[m] * pow3[n]) * 3u) >> 8);
  for (int n = 0; n < 5; n++)
    for (int m = 0; m < 16; m++) t[160 + 16 * n + m] = static_cast<uint8_t>((static_cast<uint8_t>(b.qs[32 + m] * pow3[n]) * 3u) >> 8);
  for (int n = 0; n < 4; n++)
    for (int m = 0; m < 4; m++) t[240 + 4 * n + m] = static_cast<uint8_t>((static_cast<uint8_t>(b.qh[m] * pow3[n]) * 3u) >> 8);
}

void kiln_dequantize_row_iq2_xxs(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq2_xs(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq2_s(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq3_xxs(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq3_s(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq1_s(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq1_m(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq4_nl(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_iq4_xs(const void *src, float *dst, int64_t n);

// Quantizers (iq4quant.cpp): imp, nullable, the importance of each value's
// column (an imatrix row); _ref is the same without one.
void kiln_quantize_row_iq4_nl_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq4_xs_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq4_nl_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_iq4_xs_ref(const float *src, void *dst, int64_t n);
// The lattice types (iqgrid_quant.cpp), the same way.
void kiln_quantize_row_iq3_xxs_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq3_s_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq2_xxs_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq2_xs_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq2_s_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq3_xxs_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_iq2_xxs_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_iq1_s_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_iq1_s_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_iq2_xs_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_iq2_s_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_iq3_s_ref(const float *src, void *dst, int64_t n);
void kiln_dequantize_row_tq1_0(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_tq2_0(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_mxfp4(const void *src, float *dst, int64_t n);

void kiln_vec_dot_iq2_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq2_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq2_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq3_xxs_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq3_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq1_s_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq1_m_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_iq4_xs_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_tq1_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_tq2_0_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_mxfp4_q8_0(int64_t n, float *s, const void *x, const void *y);
