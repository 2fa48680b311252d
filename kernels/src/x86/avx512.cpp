// AVX-512 (F/BW/VL/VNNI) kernels. Compiled with the matching -m flags; only run
// after kiln_cpu_probe() reported them. VPDPBUSD multiplies u8 by s8 and adds
// groups of four into int32 without saturating, which replaces AVX2's
// maddubs + madd pair; 512-bit registers hold 64 codes, a whole Q4_K/Q5_K chunk
// pair or four Q6_K sub-blocks. Types not overridden here keep their AVX2 kernels.
// Same linkage rule as avx2.cpp: nothing here may be an external inline/template.
#include <immintrin.h>

#include "avx2_util.h"
#include "ref/blocks.h"
#include "ref/kpack.h"
#include "variant.h"

using namespace kiln_avx2;

namespace {

static inline __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

// [lo, hi] -> one 512-bit register.
static inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// 32 bytes duplicated into both halves, the upper half shifted right by `hi_shift`
// bits (per 16-bit lane; callers mask to bits that cannot cross bytes) and the
// lower half by `lo_shift`.
static inline __m512i split_shift(__m256i v, int lo_shift, int hi_shift) {
  const __m512i shifts = join(_mm256_set1_epi16(static_cast<int16_t>(lo_shift)), _mm256_set1_epi16(static_cast<int16_t>(hi_shift)));
  return _mm512_srlv_epi16(join(v, v), shifts);
}

void vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q8_0 *x = static_cast<const kiln_block_q8_0 *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    const __m256i xq = load(x[i].qs), yq = load(y[i].qs);
    const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(xq, xq), _mm256_sign_epi8(yq, xq));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(kiln_fp16(x[i].d) * kiln_fp16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum_f32(acc);
}

// 64 u8 codes (<= 31) against 64 s8 activations; the first 32 products are
// weighted by a, the last 32 by b. maddubs + madd here measured faster than
// VPDPBUSD followed by a 32-bit multiply for the scales (VPMULLD is slow).
static inline __m512i dot_scaled(__m512i u, __m512i s, int a, int b) {
  const __m512i w = join(_mm256_set1_epi16(static_cast<int16_t>(a)), _mm256_set1_epi16(static_cast<int16_t>(b)));
  return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), w);
}

void vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q4_K *x = static_cast<const kiln_block_q4_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m512i m4 = _mm512_set1_epi8(0xf);
  __m512 acc = _mm512_setzero_ps();
  float acc_min = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) kiln_q4k_scale_min(j, x[i].scales, &sc[j], &mn[j]);
    int sum_mn = 0;
    for (int j = 0; j < 8; j++) sum_mn += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
      // values 64c .. 64c+63: low nibbles then high nibbles of 32 bytes
      const __m512i q = _mm512_and_si512(split_shift(load(x[i].qs + 32 * c), 0, 4), m4);
      sumi = _mm512_add_epi32(sumi, dot_scaled(q, load512(y[i].qs + 64 * c), sc[2 * c], sc[2 * c + 1]));
    }
    const float dy = load_f32(&y[i].d);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(dy * kiln_fp16(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    acc_min += dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = _mm512_reduce_add_ps(acc) - acc_min;
}

void vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q5_K *x = static_cast<const kiln_block_q5_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m512i m4 = _mm512_set1_epi8(0xf), one = _mm512_set1_epi8(1);
  __m512 acc = _mm512_setzero_ps();
  float acc_min = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) kiln_q4k_scale_min(j, x[i].scales, &sc[j], &mn[j]);
    int sum_mn = 0;
    for (int j = 0; j < 8; j++) sum_mn += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    const __m256i qh = load(x[i].qh);
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
      const __m512i lo = _mm512_and_si512(split_shift(load(x[i].qs + 32 * c), 0, 4), m4);
      // bit 4 of value 32b + l is bit b of qh[l]: b = 2c for the low half, 2c + 1 for the high
      const __m512i hb = _mm512_slli_epi16(_mm512_and_si512(split_shift(qh, 2 * c, 2 * c + 1), one), 4);
      sumi = _mm512_add_epi32(sumi, dot_scaled(_mm512_or_si512(lo, hb), load512(y[i].qs + 64 * c), sc[2 * c], sc[2 * c + 1]));
    }
    const float dy = load_f32(&y[i].d);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(dy * kiln_fp16(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    acc_min += dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = _mm512_reduce_add_ps(acc) - acc_min;
}

void vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q6_K *x = static_cast<const kiln_block_q6_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m512i m4 = _mm512_set1_epi8(0xf), m2 = _mm512_set1_epi8(3);
  float acc = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const int8_t *sc = x[i].scales;
    int bias = 0;
    for (int j = 0; j < 16; j++) bias += sc[j] * y[i].bsums[j];
    // all 16 scales widened once; group g of 4 int32 lanes = one 16-value sub-block
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(sc));
    __m512i sumi = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
      const __m256i a = load(x[i].ql + 64 * h), b = load(x[i].ql + 64 * h + 32);
      const __m256i qh = load(x[i].qh + 32 * h);
      for (int p = 0; p < 2; p++) {
        // values 128h + 64p .. +63: nibble p of a (first 32) and b (next 32);
        // their top bits are bits 4p and 4p + 2 of qh
        const __m512i lo = _mm512_and_si512(_mm512_srli_epi16(join(a, b), 4 * p), m4);
        const __m512i hi = _mm512_slli_epi16(_mm512_and_si512(split_shift(qh, 4 * p, 4 * p + 2), m2), 4);
        const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_or_si512(lo, hi),
                                              load512(y[i].qs + 128 * h + 64 * p));
        const int j = 8 * h + 4 * p;
        const __m128i idx = _mm_setr_epi8(j, j, j, j, j + 1, j + 1, j + 1, j + 1, j + 2, j + 2, j + 2, j + 2, j + 3,
                                          j + 3, j + 3, j + 3);
        sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(d, _mm512_cvtepi8_epi32(_mm_shuffle_epi8(sc8, idx))));
      }
    }
    // codes are stored biased by 32: sum (q - 32) y = sum q y - 32 sum y
    const int total = _mm512_reduce_add_epi32(sumi) - 32 * bias;
    acc += load_f32(&y[i].d) * kiln_fp16(x[i].d) * static_cast<float>(total);
  }
  *s = acc;
}

} // namespace

extern "C" void kiln_x86_avx512_register(kiln_kernel_table *t) {
  t->vec_dot[KILN_TYPE_Q8_0] = vec_dot_q8_0_q8_0;
  t->vec_dot[KILN_TYPE_Q4_K] = vec_dot_q4_K_q8_K;
  t->vec_dot[KILN_TYPE_Q5_K] = vec_dot_q5_K_q8_K;
  t->vec_dot[KILN_TYPE_Q6_K] = vec_dot_q6_K_q8_K;
}
