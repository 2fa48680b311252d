// AVX2 + FMA + F16C kernels. This file is compiled with -mavx2 -mfma -mf16c and
// must only run after kiln_cpu_probe() reported those features. Same
// signatures and results as the reference in ref/: dot products differ only in
// float summation order (integer parts are exact); activation quantizers are
// bit-identical.
//
// Keep everything here static/anonymous or in ISA-named namespaces, and use no
// std:: templates: an inline function or template instantiated here is
// compiled with AVX2 and the linker may pick this copy for the scalar code too.
#include <math.h>

#include "avx2_util.h"
#include "ref/blocks.h"
#include "ref/floats.h"
#include "ref/kpack.h"
#include "float_gemm.h"
#include "tile.h"
#include "variant.h"

using namespace kiln_avx2;

namespace {

// ---- activation quantizers -------------------------------------------------

void quantize_row_q8_0(const float *x, void *vy, int64_t n) {
  kiln_block_q8_0 *y = static_cast<kiln_block_q8_0 *>(vy);
  for (int64_t i = 0; i < n / KILN_QK; i++, x += KILN_QK) {
    __m256 v[4];
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      m = _mm256_max_ps(abs_ps(v[k]), m); // NaN in the first operand is skipped
    }
    // scale exactly as the reference computes it (scalar, same functions)
    const float amax = hmax_f32(m);
    float d = amax / 127.0f;
    d = d > KILN_F16_MAX ? KILN_F16_MAX : d;
    y[i].d = kiln_f32_to_f16(d);
    const __m256 inv = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f); // as the reference: see ref/legacy.cpp quant_q8
    const __m256i q = pack_i32x32_to_i8(q8_codes(_mm256_mul_ps(v[0], inv)), q8_codes(_mm256_mul_ps(v[1], inv)),
                                        q8_codes(_mm256_mul_ps(v[2], inv)), q8_codes(_mm256_mul_ps(v[3], inv)));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(y[i].qs), q);
  }
}

void quantize_row_q8_K(const float *x, void *vy, int64_t n) {
  kiln_block_q8_K *y = static_cast<kiln_block_q8_K *>(vy);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, x += KILN_QK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < KILN_QK_K; k += 8) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + k)), m);
    const float amax = hmax_f32(m);
    const bool usable = amax >= 1e-30f && amax <= 3.0e38f; // same rule as the reference
    // the signed value of largest magnitude, the first on a tie (as the reference)
    float max = 0;
    if (usable) {
      const __m256 va = _mm256_set1_ps(amax);
      for (int k = 0; k < KILN_QK_K; k += 8) {
        const int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + k)), va, _CMP_EQ_OQ));
        if (hit) {
          max = x[k + __builtin_ctz(hit)];
          break;
        }
      }
    }
    const float iscale = usable ? -127.0f / max : 0.0f;
    const float d = usable ? 1.0f / iscale : 0.0f;
    memcpy(&y[i].d, &d, 4);
    const __m256 inv = _mm256_set1_ps(iscale);
    for (int k = 0; k < KILN_QK_K; k += 32) {
      const __m256i a = q8_codes(_mm256_mul_ps(_mm256_loadu_ps(x + k), inv));
      const __m256i b = q8_codes(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), inv));
      const __m256i c = q8_codes(_mm256_mul_ps(_mm256_loadu_ps(x + k + 16), inv));
      const __m256i e = q8_codes(_mm256_mul_ps(_mm256_loadu_ps(x + k + 24), inv));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(y[i].qs + k), pack_i32x32_to_i8(a, b, c, e));
      y[i].bsums[k / 16] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(a, b)));
      y[i].bsums[k / 16 + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(c, e)));
    }
  }
}

// binary16 with F16C (round to nearest even, as the reference); a block
// holding a NaN goes through the reference, whose NaN is always 0x7e00 | sign.
void from_float_f16(const float *x, void *vy, int64_t n) {
  uint8_t *y = static_cast<uint8_t *>(vy);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
      kiln_from_float_f16(x + i, y + 2 * i, 8);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i *>(y + 2 * i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  if (i < n) kiln_from_float_f16(x + i, y + 2 * i, n - i);
}

// ---- K formats against Q8_K (vec_dot only; Q4_K and Q6_K are tiled below) ----

void vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q5_K *x = static_cast<const kiln_block_q5_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m256i m4 = _mm256_set1_epi8(0xf), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float acc_min = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    prefetch_ahead(&x[i], sizeof(kiln_block_q5_K));
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) kiln_q4k_scale_min(j, x[i].scales, &sc[j], &mn[j]);
    int sum_mn = 0;
    for (int j = 0; j < 8; j++) sum_mn += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    const __m256i qh = load(x[i].qh);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i q = load(x[i].qs + 32 * c);
      // bit 4 of value 32b + l is bit b of qh[l]; 16-bit shifts are safe
      // because only bit 0 of each byte survives the mask
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
      sumi = _mm256_add_epi32(sumi, dot_u8_s8_scaled(lo, load(y[i].qs + 64 * c), _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c]))));
      sumi = _mm256_add_epi32(sumi, dot_u8_s8_scaled(hi, load(y[i].qs + 64 * c + 32), _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1]))));
    }
    const float dy = load_f32(&y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * kiln_fp16(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    // one FMA, as llama.cpp's build contracts its `summs += dmin * sum`
    acc_min = fmaf(dy * kiln_fp16(x[i].dmin), static_cast<float>(sum_mn), acc_min);
  }
  *s = hsum_f32(acc) - acc_min;
}

void vec_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q3_K *x = static_cast<const kiln_block_q3_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    prefetch_ahead(&x[i], sizeof(kiln_block_q3_K));
    int sc[16];
    int bias = 0;
    for (int j = 0; j < 16; j++) {
      sc[j] = kiln_q3k_scale(j, x[i].scales);
      bias += sc[j] * y[i].bsums[j];
    }
    const __m256i hm = load(x[i].hmask);
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      const __m256i qs = load(x[i].qs + 32 * h);
      for (int k = 0; k < 4; k++) {
        // stored u = q + 4: low two bits at bits 2k, bit 2 in hmask bit 4h + k
        const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m2);
        const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), one), 2);
        const int j = 8 * h + 2 * k;
        sumi = _mm256_add_epi32(sumi, dot_u8_s8_scaled(_mm256_or_si256(lo, hb), load(y[i].qs + 128 * h + 32 * k),
                                                       scales_2x16(sc[j], sc[j + 1])));
      }
    }
    sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(4 * bias, 0, 0, 0, 0, 0, 0, 0));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_f32(&y[i].d) * kiln_fp16(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum_f32(acc);
}

void vec_dot_q2_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q2_K *x = static_cast<const kiln_block_q2_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m256i m2 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  float acc_min = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    prefetch_ahead(&x[i], sizeof(kiln_block_q2_K));
    int sum_mn = 0;
    for (int j = 0; j < 16; j++) sum_mn += (x[i].scales[j] >> 4) * y[i].bsums[j];
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      const __m256i qs = load(x[i].qs + 32 * h);
      for (int k = 0; k < 4; k++) {
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m2);
        const int j = 8 * h + 2 * k;
        sumi = _mm256_add_epi32(sumi, dot_u8_s8_scaled(q, load(y[i].qs + 128 * h + 32 * k),
                                                       scales_2x16(x[i].scales[j] & 0xf, x[i].scales[j + 1] & 0xf)));
      }
    }
    const float dy = load_f32(&y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * kiln_fp16(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    acc_min += dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = hsum_f32(acc) - acc_min;
}

// ---- tiled kernels (several weight rows x several activation rows) ----------
//
// The 32-value sub-block scales are applied with VPMADDWD against a vector of
// 16-bit scales picked by PSHUFB from all eight, instead of broadcasting each
// from a general register; F16C converts the block scales.

static inline __m128i load128(const void *p) { return _mm_loadu_si128(static_cast<const __m128i *>(p)); }

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// PSHUFB control that fills a 128-bit lane with 16-bit element k of that lane.
static inline __m256i pick16(int k) { return _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * k)); }

static inline __m256i join128(__m128i lo, __m128i hi) { return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1); }

// Q4_K's 8 six-bit scales and mins (layout in ref/kpack.h), unpacked four at a
// time in 32-bit words: bytes 0..7 of *sc are sc[0..7], of *mn mn[0..7].
static inline void q4k_scales(const uint8_t *s, uint64_t *sc, uint64_t *mn) {
  uint32_t a, b, c;
  memcpy(&a, s, 4);
  memcpy(&b, s + 4, 4);
  memcpy(&c, s + 8, 4);
  const uint32_t sc_lo = a & 0x3f3f3f3fu, mn_lo = b & 0x3f3f3f3fu;
  const uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
  *sc = sc_lo | (uint64_t)sc_hi << 32;
  *mn = mn_lo | (uint64_t)mn_hi << 32;
}

template <int NR, int NC>
struct Q4K {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    const __m256i m4 = _mm256_set1_epi8(0xf);
    __m256 acc[NR][NC];
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KILN_QK_K; i++) {
      const kiln_block_q8_K *yb[NC];
      for (int c = 0; c < NC; c++) yb[c] = reinterpret_cast<const kiln_block_q8_K *>(y + c * by) + i;
      const kiln_block_q4_K *xb[NR];
      __m256i sc[NR];
      for (int r = 0; r < NR; r++) {
        xb[r] = reinterpret_cast<const kiln_block_q4_K *>(x + r * bx) + i;
        prefetch_ahead(xb[r], sizeof(kiln_block_q4_K));
        uint64_t sc8, mn8;
        q4k_scales(xb[r]->scales, &sc8, &mn8);
        sc[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
      }
      __m256i sumi[NR][NC];
      for (int r = 0; r < NR; r++)
        for (int c = 0; c < NC; c++) sumi[r][c] = _mm256_setzero_si256();
      for (int k = 0; k < 4; k++) {
        // chunk k: low nibbles are values 64k..64k+31 (sub-block 2k), high ones sub-block 2k + 1
        __m256i lo[NR], hi[NR];
        for (int r = 0; r < NR; r++) {
          const __m256i q = load(xb[r]->qs + 32 * k);
          lo[r] = _mm256_and_si256(q, m4);
          hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        }
        for (int c = 0; c < NC; c++) {
          const __m256i ylo = load(yb[c]->qs + 64 * k), yhi = load(yb[c]->qs + 64 * k + 32);
          for (int r = 0; r < NR; r++) {
            const __m256i a = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[r], ylo), _mm256_shuffle_epi8(sc[r], pick16(2 * k)));
            const __m256i b = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[r], yhi), _mm256_shuffle_epi8(sc[r], pick16(2 * k + 1)));
            sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_add_epi32(a, b));
          }
        }
      }
      for (int r = 0; r < NR; r++) {
        const float d = f16(xb[r]->d), dmin = f16(xb[r]->dmin);
        uint64_t sc8, mn8;
        q4k_scales(xb[r]->scales, &sc8, &mn8);
        const __m128i mn = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
        for (int c = 0; c < NC; c++) {
          const float dy = load_f32(&yb[c]->d);
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dy * d), _mm256_cvtepi32_ps(sumi[r][c]), acc[r][c]);
          // the min term: dmin * sum_j mn_j * (activation sum of 32-value sub-block j), 4 lanes
          const __m128i bpair = _mm_hadd_epi16(load128(yb[c]->bsums), load128(yb[c]->bsums + 8));
          const __m256i m = _mm256_zextsi128_si256(_mm_madd_epi16(mn, bpair));
          acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(dy * dmin), _mm256_cvtepi32_ps(m), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) s[c * ldc + r] = hsum_f32(acc[r][c]);
  }
};

// Q6_K: quarter k of half h is values 128h + 32k + l: low nibble from
// ql[64h + 32(k & 1) + l] (nibble k >> 1), top bits 2k of qh[32h + l];
// sub-blocks 8h + 2k and 8h + 2k + 1. Codes are biased by 32 (block sums).
template <int NR, int NC>
struct Q6K {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    const __m256i m4 = _mm256_set1_epi8(0xf), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[NR][NC];
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KILN_QK_K; i++) {
      const kiln_block_q8_K *yb[NC];
      for (int c = 0; c < NC; c++) yb[c] = reinterpret_cast<const kiln_block_q8_K *>(y + c * by) + i;
      const kiln_block_q6_K *xb[NR];
      for (int r = 0; r < NR; r++) {
        xb[r] = reinterpret_cast<const kiln_block_q6_K *>(x + r * bx) + i;
        prefetch_ahead(xb[r], sizeof(kiln_block_q6_K));
      }
      __m256i sumi[NR][NC];
      for (int r = 0; r < NR; r++)
        for (int c = 0; c < NC; c++) sumi[r][c] = _mm256_setzero_si256();
      for (int h = 0; h < 2; h++) {
        for (int k = 0; k < 4; k++) {
          __m256i q[NR], sc[NR];
          for (int r = 0; r < NR; r++) {
            const __m256i l = load(xb[r]->ql + 64 * h + 32 * (k & 1));
            const __m256i nib = (k >> 1) ? _mm256_srli_epi16(l, 4) : l;
            const __m256i qh = load(xb[r]->qh + 32 * h);
            // top bits 2k..2k+1 moved to bits 4..5 (the 16-bit shifts only carry bits the mask drops)
            const __m256i top = 2 * k >= 4 ? _mm256_srli_epi16(qh, 2 * k - 4) : _mm256_slli_epi16(qh, 4 - 2 * k);
            q[r] = _mm256_or_si256(_mm256_and_si256(nib, m4), _mm256_and_si256(top, m30));
            const __m256i s16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(xb[r]->scales + 8 * h))));
            sc[r] = _mm256_shuffle_epi8(s16, join128(_mm256_castsi256_si128(pick16(2 * k)), _mm256_castsi256_si128(pick16(2 * k + 1))));
          }
          for (int c = 0; c < NC; c++) {
            const __m256i yq = load(yb[c]->qs + 128 * h + 32 * k);
            for (int r = 0; r < NR; r++)
              sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], yq), sc[r]));
          }
        }
      }
      for (int r = 0; r < NR; r++) {
        const float d = f16(xb[r]->d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(load128(xb[r]->scales));
        for (int c = 0; c < NC; c++) {
          const __m256i bias = _mm256_madd_epi16(sc16, load(yb[c]->bsums));
          const __m256i t = _mm256_sub_epi32(sumi[r][c], _mm256_slli_epi32(bias, 5));
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(load_f32(&yb[c]->d) * d), _mm256_cvtepi32_ps(t), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) s[c * ldc + r] = hsum_f32(acc[r][c]);
  }
};

template <int NR, int NC>
struct Q80 {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    __m256 acc[NR][NC];
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KILN_QK; i++) {
      __m256i yq[NC];
      float dy[NC];
      for (int c = 0; c < NC; c++) {
        const kiln_block_q8_0 *yb = reinterpret_cast<const kiln_block_q8_0 *>(y + c * by) + i;
        yq[c] = load(yb->qs);
        dy[c] = f16(yb->d);
      }
      for (int r = 0; r < NR; r++) {
        const kiln_block_q8_0 *xb = reinterpret_cast<const kiln_block_q8_0 *>(x + r * bx) + i;
        prefetch_ahead(xb, sizeof(kiln_block_q8_0));
        const __m256i xq = load(xb->qs), ax = _mm256_sign_epi8(xq, xq);
        const float dx = f16(xb->d);
        for (int c = 0; c < NC; c++) {
          const __m256i p = dot_u8_s8(ax, _mm256_sign_epi8(yq[c], xq));
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) s[c * ldc + r] = hsum_f32(acc[r][c]);
  }
};

// The 32-value nibble formats, two blocks per step (their nibbles side by side
// in one register; an odd last block goes alone in the low lanes). Q5_0 adds
// a fifth bit per value from its 32-bit qh. Codes are stored biased:
// sum (q - off) y = sum q y - off sum y, in 16-bit lanes (|.| < 2^15).
static inline __m256i nibble_pair(const uint8_t *a, const uint8_t *b, bool pair) {
  return pair ? join128(load128(a), load128(b)) : _mm256_zextsi128_si256(load128(a));
}

// 32 mask bits -> 32 bytes of 0x10 where the bit is set.
static inline __m256i bits_to_0x10(uint32_t m) {
  const __m256i sel = _mm256_set1_epi64x(0x8040201008040201);
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)m), spread), sel);
  return _mm256_and_si256(_mm256_cmpeq_epi8(v, sel), _mm256_set1_epi8(0x10));
}

struct Q40Blocks {
  typedef kiln_block_q4_0 block;
  static const int offset = 8;
  static inline void codes(const block *xb, bool pair, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0xf);
    const __m256i v = nibble_pair(xb[0].qs, xb[1].qs, pair);
    *lo = _mm256_and_si256(v, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
  }
};

struct Q50Blocks {
  typedef kiln_block_q5_0 block;
  static const int offset = 16;
  static inline void codes(const block *xb, bool pair, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0xf);
    const __m256i v = nibble_pair(xb[0].qs, xb[1].qs, pair);
    uint32_t h0, h1 = 0;
    memcpy(&h0, xb[0].qh, 4);
    if (pair) memcpy(&h1, xb[1].qh, 4);
    // bit j of qh is bit 4 of value j: values 0..15 are the low nibbles, 16..31 the high
    *lo = _mm256_or_si256(_mm256_and_si256(v, m4), bits_to_0x10((h0 & 0xffffu) | (h1 << 16)));
    *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), bits_to_0x10((h0 >> 16) | (h1 & 0xffff0000u)));
  }
};

template <class B, int NR, int NC>
struct Legacy4 {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    const __m256i off = _mm256_set1_epi8(B::offset), ones = _mm256_set1_epi16(1);
    const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1); // lanes 0..3: first block, 4..7: second
    __m256 acc[NR][NC];
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    const int64_t nb = n / KILN_QK;
    for (int64_t i = 0; i < nb; i += 2) {
      const bool pair = i + 1 < nb;
      __m256i ylo[NC], yhi[NC], ysum[NC];
      __m256 dy[NC];
      for (int c = 0; c < NC; c++) {
        const kiln_block_q8_0 *yb = reinterpret_cast<const kiln_block_q8_0 *>(y + c * by) + i;
        ylo[c] = nibble_pair(reinterpret_cast<const uint8_t *>(yb[0].qs), reinterpret_cast<const uint8_t *>(yb[pair].qs), pair);
        yhi[c] = nibble_pair(reinterpret_cast<const uint8_t *>(yb[0].qs + 16), reinterpret_cast<const uint8_t *>(yb[pair].qs + 16), pair);
        ysum[c] = _mm256_add_epi16(_mm256_maddubs_epi16(off, ylo[c]), _mm256_maddubs_epi16(off, yhi[c]));
        const uint32_t d2 = yb[0].d | (pair ? (uint32_t)yb[1].d << 16 : 0u);
        dy[c] = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d2))), spread);
      }
      for (int r = 0; r < NR; r++) {
        const typename B::block *xb = reinterpret_cast<const typename B::block *>(x + r * bx) + i;
        prefetch_ahead(xb, 2 * sizeof(typename B::block));
        __m256i lo, hi;
        B::codes(xb, pair, &lo, &hi);
        const uint32_t d2 = xb[0].d | (pair ? (uint32_t)xb[1].d << 16 : 0u);
        const __m256 dx = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d2))), spread);
        for (int c = 0; c < NC; c++) {
          const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, ylo[c]), _mm256_maddubs_epi16(hi, yhi[c]));
          const __m256i p = _mm256_madd_epi16(_mm256_sub_epi16(p16, ysum[c]), ones);
          acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dx, dy[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) s[c * ldc + r] = hsum_f32(acc[r][c]);
  }
};

template <int NR, int NC>
using Q40 = Legacy4<Q40Blocks, NR, NC>;
template <int NR, int NC>
using Q50 = Legacy4<Q50Blocks, NR, NC>;

// ---- float formats -----------------------------------------------------------

// Weights of the float formats: 8 values at value index i as f32, or value i alone.
struct F16Row {
  static __m256 load8(const uint8_t *x, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x + 2 * i)));
  }
  static float at(const uint8_t *x, int64_t i) {
    uint16_t h;
    memcpy(&h, x + 2 * i, 2);
    return kiln_f16_to_f32(h);
  }
  static void prefetch(const uint8_t *x, int64_t i) { prefetch_ahead(x + 2 * i, 1); }
};

struct F32Row {
  static __m256 load8(const uint8_t *x, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float *>(x) + i); }
  static float at(const uint8_t *x, int64_t i) { return load_f32(x + 4 * i); }
  static void prefetch(const uint8_t *x, int64_t i) { prefetch_ahead(x + 4 * i, 64); }
};

// Float weights against f32 activations, NR rows by NC tokens (vec_dot is
// 1 x 1): per pair two 8-lane accumulators over steps of 16 values, reduced
// once, then the values past the last step added one by one. A tile shares
// only the loads, so every pair gets vec_dot's bits.
template <class WR, int NR, int NC>
struct FloatDot {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *vy, size_t by) {
    __m256 acc0[NR][NC], acc1[NR][NC];
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) acc0[r][c] = acc1[r][c] = _mm256_setzero_ps();
    const float *y[NC];
    for (int c = 0; c < NC; c++) y[c] = reinterpret_cast<const float *>(vy + c * by);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      __m256 a0[NC], a1[NC];
      for (int c = 0; c < NC; c++) {
        a0[c] = _mm256_loadu_ps(y[c] + i);
        a1[c] = _mm256_loadu_ps(y[c] + i + 8);
      }
      for (int r = 0; r < NR; r++) {
        const uint8_t *xr = x + r * bx;
        WR::prefetch(xr, i);
        const __m256 w0 = WR::load8(xr, i), w1 = WR::load8(xr, i + 8);
        for (int c = 0; c < NC; c++) {
          acc0[r][c] = _mm256_fmadd_ps(w0, a0[c], acc0[r][c]);
          acc1[r][c] = _mm256_fmadd_ps(w1, a1[c], acc1[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) {
        float sum = hsum_f32(_mm256_add_ps(acc0[r][c], acc1[r][c]));
        for (int64_t j = i; j < n; j++) sum += WR::at(x + r * bx, j) * y[c][j];
        s[c * ldc + r] = sum;
      }
  }
};

template <int NR, int NC>
using F16Dot = FloatDot<F16Row, NR, NC>;
template <int NR, int NC>
using F32Dot = FloatDot<F32Row, NR, NC>;

// Tiles for batches of 2 to 7 tokens (the gemm takes 8 and more); a single
// token (matvec, memory-bound) keeps one row at a time, one stream for the
// prefetchers, as vec_dot alone runs it.
template <template <int, int> class K>
void float_tile(int64_t n, float *s, size_t ldc, const void *x, size_t bx, int nr, const void *y, size_t by, int nc) {
  if (nc == 1) {
    for (int r = 0; r < nr; r++) Tiles<K, 2, 2>::dot(n, s + r, static_cast<const uint8_t *>(x) + r * bx, y);
    return;
  }
  Tiles<K, 2, 2>::tile(n, s, ldc, x, bx, nr, y, by, nc);
}

// Eight f32 lanes for the float gemm kernels (float_gemm.h).
struct Avx2Vec {
  typedef __m256 vec;
  static const int W = 8;
  static vec zero() { return _mm256_setzero_ps(); }
  static vec load_f32(const float *p) { return _mm256_loadu_ps(p); }
  static vec load_f16(const void *p) { return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i *>(p))); }
  static vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(vec v) { return hsum_f32(v); }
};

} // namespace

extern "C" void kiln_x86_avx2_register(kiln_kernel_table *t) {
  t->from_float[KILN_TYPE_Q8_0] = quantize_row_q8_0;
  t->from_float[KILN_TYPE_Q8_K] = quantize_row_q8_K;
  t->from_float[KILN_TYPE_F16] = from_float_f16;
  t->vec_dot[KILN_TYPE_Q4_0] = Tiles<Q40, 2, 2>::dot;
  t->vec_dot_tile[KILN_TYPE_Q4_0] = Tiles<Q40, 2, 2>::tile;
  t->vec_dot[KILN_TYPE_Q5_0] = Tiles<Q50, 2, 2>::dot;
  t->vec_dot_tile[KILN_TYPE_Q5_0] = Tiles<Q50, 2, 2>::tile;
  t->vec_dot[KILN_TYPE_Q8_0] = Tiles<Q80, 2, 2>::dot;
  t->vec_dot_tile[KILN_TYPE_Q8_0] = Tiles<Q80, 2, 2>::tile;
  t->vec_dot[KILN_TYPE_Q2_K] = vec_dot_q2_K_q8_K;
  t->vec_dot[KILN_TYPE_Q3_K] = vec_dot_q3_K_q8_K;
  t->vec_dot[KILN_TYPE_Q4_K] = Tiles<Q4K, 1, 2>::dot;
  t->vec_dot_tile[KILN_TYPE_Q4_K] = Tiles<Q4K, 1, 2>::tile;
  t->vec_dot[KILN_TYPE_Q5_K] = vec_dot_q5_K_q8_K;
  t->vec_dot[KILN_TYPE_Q6_K] = Tiles<Q6K, 1, 2>::dot;
  t->vec_dot_tile[KILN_TYPE_Q6_K] = Tiles<Q6K, 1, 2>::tile;
  t->vec_dot[KILN_TYPE_F16] = Tiles<F16Dot, 2, 2>::dot;
  t->vec_dot_tile[KILN_TYPE_F16] = float_tile<F16Dot>;
  t->vec_dot[KILN_TYPE_F32] = Tiles<F32Dot, 2, 2>::dot;
  t->vec_dot_tile[KILN_TYPE_F32] = float_tile<F32Dot>;
  // 4 rows x 3 tokens: 12 accumulators, 3 tokens and a weight vector fill the 16 registers
  float_gemm::register_float_gemm<Avx2Vec, 3>(t);
}
