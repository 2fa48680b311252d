// AVX2 + FMA + F16C kernels. This file is compiled with -mavx2 -mfma -mf16c and
// must only run after kiln_cpu_probe() reported those features. Same
// signatures and results as the reference in ref/: dot products differ only in
// float summation order (integer parts are exact); activation quantizers are
// bit-identical.
//
// Keep everything here static/anonymous or in ISA-named namespaces, and use no
// std:: templates: an inline function or template instantiated here is
// compiled with AVX2 and the linker may pick this copy for the scalar code too.
#include "avx2_util.h"
#include "ref/blocks.h"
#include "ref/kpack.h"
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
    float d = hmax_f32(m) / 127.0f;
    d = d > KILN_F16_MAX ? KILN_F16_MAX : d;
    y[i].d = kiln_f32_to_f16(d);
    const float df = kiln_fp16(y[i].d);
    const __m256 inv = _mm256_set1_ps(df != 0 ? 1.0f / df : 0.0f);
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
    const float d = usable ? amax / 127.0f : 0.0f;
    memcpy(&y[i].d, &d, 4);
    const __m256 inv = _mm256_set1_ps(usable ? 127.0f / amax : 0.0f);
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

// ---- 32-value block formats -----------------------------------------------

// 16 bytes of nibbles -> 32 codes 0..15 in value order (low nibbles first).
inline __m256i unpack_nibbles_32(const uint8_t *qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
  const __m128i m = _mm_set1_epi8(0xf);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(t, 4), m), _mm_and_si128(t, m));
}

void vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q8_0 *x = static_cast<const kiln_block_q8_0 *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    const __m256i p = dot_s8_s8(load(x[i].qs), load(y[i].qs));
    const __m256 d = _mm256_set1_ps(kiln_fp16(x[i].d) * kiln_fp16(y[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum_f32(acc);
}

void vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q4_0 *x = static_cast<const kiln_block_q4_0 *>(vx);
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  __m256 acc = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles_32(x[i].qs), eight);
    const __m256i p = dot_s8_s8(q, load(y[i].qs));
    const __m256 d = _mm256_set1_ps(kiln_fp16(x[i].d) * kiln_fp16(y[i].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  *s = hsum_f32(acc);
}

// ---- K formats against Q8_K --------------------------------------------------

void vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q4_K *x = static_cast<const kiln_block_q4_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m256i m4 = _mm256_set1_epi8(0xf);
  __m256 acc = _mm256_setzero_ps();
  float acc_min = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) kiln_q4k_scale_min(j, x[i].scales, &sc[j], &mn[j]);
    int sum_mn = 0;
    for (int j = 0; j < 8; j++) sum_mn += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i q = load(x[i].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(q, m4);                         // values 64c .. 64c+31
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);   // values 64c+32 .. 64c+63
      sumi = _mm256_add_epi32(sumi, dot_u8_s8_scaled(lo, load(y[i].qs + 64 * c), _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c]))));
      sumi = _mm256_add_epi32(sumi, dot_u8_s8_scaled(hi, load(y[i].qs + 64 * c + 32), _mm256_set1_epi16(static_cast<int16_t>(sc[2 * c + 1]))));
    }
    const float dy = load_f32(&y[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * kiln_fp16(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    acc_min += dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = hsum_f32(acc) - acc_min;
}

void vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q5_K *x = static_cast<const kiln_block_q5_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m256i m4 = _mm256_set1_epi8(0xf), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float acc_min = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
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
    acc_min += dy * kiln_fp16(x[i].dmin) * static_cast<float>(sum_mn);
  }
  *s = hsum_f32(acc) - acc_min;
}

void vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q6_K *x = static_cast<const kiln_block_q6_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m256i m4 = _mm256_set1_epi8(0xf), m2 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const int8_t *sc = x[i].scales;
    // codes are stored biased by 32: sum (q - 32) y = sum q y - 32 sum y
    int bias = 0;
    for (int j = 0; j < 16; j++) bias += sc[j] * y[i].bsums[j];
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      const __m256i a = load(x[i].ql + 64 * h), b = load(x[i].ql + 64 * h + 32);
      const __m256i qh = load(x[i].qh + 32 * h);
      // quarter k of this half: low nibbles from a/b (k even/odd), nibble k / 2,
      // top bits 2k of qh
      const __m256i lows[4] = {_mm256_and_si256(a, m4), _mm256_and_si256(b, m4),
                               _mm256_and_si256(_mm256_srli_epi16(a, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(b, 4), m4)};
      for (int k = 0; k < 4; k++) {
        const __m256i hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m2), 4);
        const __m256i q = _mm256_or_si256(lows[k], hi);
        const int j = 8 * h + 2 * k; // first of the two 16-value sub-blocks
        sumi = _mm256_add_epi32(sumi, dot_u8_s8_scaled(q, load(y[i].qs + 128 * h + 32 * k), scales_2x16(sc[j], sc[j + 1])));
      }
    }
    sumi = _mm256_sub_epi32(sumi, _mm256_setr_epi32(32 * bias, 0, 0, 0, 0, 0, 0, 0));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_f32(&y[i].d) * kiln_fp16(x[i].d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum_f32(acc);
}

void vec_dot_q3_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q3_K *x = static_cast<const kiln_block_q3_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
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

// ---- float formats -----------------------------------------------------------

void vec_dot_f16_f32(int64_t n, float *s, const void *vx, const void *vy) {
  const uint8_t *x = static_cast<const uint8_t *>(vx);
  const float *y = static_cast<const float *>(vy);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x + 2 * i)));
    const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x + 2 * i + 16)));
    acc0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(y + i), acc0);
    acc1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(y + i + 8), acc1);
  }
  float sum = hsum_f32(_mm256_add_ps(acc0, acc1));
  for (; i < n; i++) {
    uint16_t h;
    memcpy(&h, x + 2 * i, 2);
    sum += kiln_f16_to_f32(h) * y[i];
  }
  *s = sum;
}

void vec_dot_f32_f32(int64_t n, float *s, const void *vx, const void *vy) {
  const float *x = static_cast<const float *>(vx), *y = static_cast<const float *>(vy);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
  }
  float sum = hsum_f32(_mm256_add_ps(acc0, acc1));
  for (; i < n; i++) sum += x[i] * y[i];
  *s = sum;
}

} // namespace

extern "C" void kiln_x86_avx2_register(kiln_kernel_table *t) {
  t->from_float[KILN_TYPE_Q8_0] = quantize_row_q8_0;
  t->from_float[KILN_TYPE_Q8_K] = quantize_row_q8_K;
  t->vec_dot[KILN_TYPE_Q4_0] = vec_dot_q4_0_q8_0;
  t->vec_dot[KILN_TYPE_Q8_0] = vec_dot_q8_0_q8_0;
  t->vec_dot[KILN_TYPE_Q2_K] = vec_dot_q2_K_q8_K;
  t->vec_dot[KILN_TYPE_Q3_K] = vec_dot_q3_K_q8_K;
  t->vec_dot[KILN_TYPE_Q4_K] = vec_dot_q4_K_q8_K;
  t->vec_dot[KILN_TYPE_Q5_K] = vec_dot_q5_K_q8_K;
  t->vec_dot[KILN_TYPE_Q6_K] = vec_dot_q6_K_q8_K;
  t->vec_dot[KILN_TYPE_F16] = vec_dot_f16_f32;
  t->vec_dot[KILN_TYPE_F32] = vec_dot_f32_f32;
}
