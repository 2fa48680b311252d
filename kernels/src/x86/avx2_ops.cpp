// AVX2 + FMA + F16C versions of the llama layer's non-matmul ops
// (ref/llama_ops.h): attention over the f16/f32 KV cache, SiLU(gate) * up,
// RMSNorm. Same results as the reference up to summation order, FMA in place
// of a multiply and an add, and exp_ps in place of expf (within ~2 ulp);
// SiLU * up is llama.cpp's to the bit (its tail follows the build width).
// Linkage rule of avx2.cpp: everything here is internal.
#include <math.h>

#include "avx2_util.h"
#include "ref/ggml_expf.h"
#include "ref/half.h"
#include "ref/kv_quant.h"
#include "ref/llama_ops.h"
#include "variant.h"

using namespace kiln_avx2;

namespace {

// e^x for 8 floats: 2^n e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 in
// two parts, so r is exact enough) and e^r from its degree-7 Taylor series
// (|r| <= ln 2 / 2: truncation below 6e-9 relative). Inputs are clamped to
// [-87.3, 88] so 2^n stays a normal float: e^x below ~1e-38 comes out as
// ~1e-38 instead of 0, which no caller can tell apart. NaN stays NaN.
inline __m256 exp_ps(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.33f), x); // NaN in the second operand passes through
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Lanes [0, k) set, for the ragged end of a row.
inline __m256i head_mask(int64_t k) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 8 cache elements as floats.
inline __m256 load_kv(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p))); }
inline __m256 load_kv(const float *p) { return _mm256_loadu_ps(p); }

// Softmax numerators in place: w[s] = e^(w[s] - max) for s < n (the lanes
// past n are neither read nor written); returns 1 / their sum, summed in double.
inline float softmax_exp(float *w, int32_t n) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int32_t s = 0;
  for (; s + 8 <= n; s += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(w + s));
  float mx = hmax_f32(vmax);
  for (; s < n; s++) mx = w[s] > mx ? w[s] : mx;
  const __m256 vm = _mm256_set1_ps(mx);
  __m256d sum0 = _mm256_setzero_pd(), sum1 = _mm256_setzero_pd();
  for (s = 0; s < n; s += 8) {
    const __m256i m = head_mask(n - s);
    const __m256 e = _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_maskload_ps(w + s, m), vm)), _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(w + s, m, e);
    sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  const __m256d sum = _mm256_add_pd(sum0, sum1);
  __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd(sum, 1));
  s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
  return (float)(1.0 / _mm_cvtsd_f64(s2));
}

// x = softcap * tanh(x) for the n scores (gemma2's attention logit soft-capping).
inline void softcap_scores(float *x, int32_t n, float softcap) {
  for (int32_t s = 0; s < n; s++) x[s] = softcap * tanhf(x[s]);
}

template <class T>
void attn(const float *q, const void *vk, const void *vv, size_t stride, int32_t n_kv, int32_t d, float scale, float softcap,
          float *sc, float *out) {
  const T *k = static_cast<const T *>(vk), *v = static_cast<const T *>(vv);
  // scores
  for (int32_t s = 0; s < n_kv; s++) {
    const T *kr = k + (size_t)s * stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 16 <= d; i += 16) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_kv(kr + i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_kv(kr + i + 8), a1);
    }
    if (i < d) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_kv(kr + i), a0); // d is a multiple of 8
    sc[s] = hsum_f32(_mm256_add_ps(a0, a1)) * scale;
  }
  if (softcap != 0.0f) softcap_scores(sc, n_kv, softcap);
  const float inv = softmax_exp(sc, n_kv);
  // weighted sum of the values, 32 dimensions at a time in registers
  for (int32_t i0 = 0; i0 < d; i0 += 32) {
    const int nv = d - i0 >= 32 ? 4 : (d - i0) / 8;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const T *vr = v + i0;
    if (nv == 4) {
      for (int32_t t = 0; t < n_kv; t++, vr += stride) {
        const __m256 w = _mm256_set1_ps(sc[t] * inv);
        acc[0] = _mm256_fmadd_ps(w, load_kv(vr), acc[0]);
        acc[1] = _mm256_fmadd_ps(w, load_kv(vr + 8), acc[1]);
        acc[2] = _mm256_fmadd_ps(w, load_kv(vr + 16), acc[2]);
        acc[3] = _mm256_fmadd_ps(w, load_kv(vr + 24), acc[3]);
      }
    } else {
      for (int32_t t = 0; t < n_kv; t++, vr += stride) {
        const __m256 w = _mm256_set1_ps(sc[t] * inv);
        for (int j = 0; j < nv; j++) acc[j] = _mm256_fmadd_ps(w, load_kv(vr + 8 * j), acc[j]);
      }
    }
    for (int j = 0; j < nv; j++) _mm256_storeu_ps(out + i0 + 8 * j, acc[j]);
  }
}

// x at binary16 precision (round to nearest even), kept as floats.
inline __m256 round_f16(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

// e^x for four doubles, to about 2e-16 relative: x = k ln 2 + r with
// |r| <= ln 2 / 2 (ln 2 split in two so k ln 2 is exact), e^r by its Taylor
// series to degree 13 (truncation below 3e-17), times 2^k through the
// exponent bits. Inputs are clamped to [-745, 0]: every caller's argument is
// at most 0, and below -745 e^x rounds to 0 in any float format.
inline __m256d exp_pd(__m256d x) {
  x = _mm256_max_pd(x, _mm256_set1_pd(-745.0));
  const __m256d kf = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.4426950408889634)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(kf, _mm256_set1_pd(0.693147180369123816490), x); // ln 2, high 32 bits
  r = _mm256_fnmadd_pd(kf, _mm256_set1_pd(1.90821492927058770002e-10), r);     // ln 2, the rest
  __m256d p = _mm256_set1_pd(1.0 / 6227020800.0); // 1/13!
  const double inv_fact[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0,
                             1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,      1.0 / 6.0,      0.5,           1.0,          1.0};
  for (double c : inv_fact) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c));
  // 2^k in two steps (k >= -1075 may lie below the smallest normal double's exponent)
  const __m128i k = _mm256_cvtpd_epi32(kf);
  const __m128i k1 = _mm_srai_epi32(k, 1), k2 = _mm_sub_epi32(k, k1);
  const __m256d s1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k1), _mm256_set1_epi64x(1023)), 52));
  const __m256d s2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(k2), _mm256_set1_epi64x(1023)), 52));
  return _mm256_mul_pd(_mm256_mul_pd(p, s1), s2);
}

// v[i] = expf(v[i]) rounded from a double accurate to ~2e-16, so it is the
// correctly rounded e^x (glibc's expf, which llama.cpp calls, differs from
// that in about 6 of 10,000 arguments, by one ulp). v[i] <= 0.
void expf_rounded(float *v, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm_storeu_ps(v + i, _mm256_cvtpd_ps(exp_pd(_mm256_cvtps_pd(_mm_loadu_ps(v + i)))));
  for (; i < n; i++) v[i] = (float)exp((double)v[i]);
}

// KILN_KV_F16_ACC16: llama.cpp's CPU flash attention over an f16 cache, as its
// x86 builds compute it (ref/llama_ops.cpp has the plain statement), so that
// the scores, weights and sums come out bit for bit the same.
//
// Scores: ggml's f16 dot product. Whole blocks of STEP elements (32 in its
// AVX2 builds, 64 in its AVX-512 ones) go through four accumulators of
// STEP / 4 lanes, summed as (a0 + a2) + (a1 + a3) and then across lanes as a
// halving tree; the d % STEP elements left are added in double. ROUND: qh is
// rounded to binary16 as it is loaded.
template <int STEP, bool ROUND = false>
inline float dot_f16_ggml(const float *qh, const uint16_t *k, int32_t d) {
  constexpr int W = STEP / 32; // 256-bit registers per accumulator
  const int32_t np = d & ~(STEP - 1);
  double sum = 0;
  if (np > 0) {
    __m256 acc[4][W];
    for (int j = 0; j < 4; j++)
      for (int w = 0; w < W; w++) acc[j][w] = _mm256_setzero_ps();
    for (int32_t i = 0; i < np; i += STEP)
      for (int j = 0; j < 4; j++)
        for (int w = 0; w < W; w++) {
          const int32_t o = i + j * (STEP / 4) + 8 * w;
          const __m256 q = _mm256_loadu_ps(qh + o);
          acc[j][w] = _mm256_fmadd_ps(load_kv(k + o), ROUND ? round_f16(q) : q, acc[j][w]);
        }
    __m256 r[W];
    for (int w = 0; w < W; w++) r[w] = _mm256_add_ps(_mm256_add_ps(acc[0][w], acc[2][w]), _mm256_add_ps(acc[1][w], acc[3][w]));
    __m128 t;
    if (W == 1) {
      t = _mm_add_ps(_mm256_castps256_ps128(r[0]), _mm256_extractf128_ps(r[0], 1));
      t = _mm_hadd_ps(t, t);
      t = _mm_hadd_ps(t, t); // (t0 + t1) + (t2 + t3)
    } else {
      const __m256 h = _mm256_add_ps(r[W - 1], r[0]); // lanes i and i + 8 of the 16
      t = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
      t = _mm_add_ps(t, _mm_movehl_ps(t, t)); // (t0 + t2), (t1 + t3)
      t = _mm_add_ss(t, _mm_shuffle_ps(t, t, 1));
    }
    sum = _mm_cvtss_f32(t);
  }
  for (int32_t i = np; i < d; i++) {
    const float q = ROUND ? kiln_f16_to_f32(kiln_f32_to_f16(qh[i])) : qh[i];
    sum += (double)(q * kiln_f16_to_f32(k[i]));
  }
  return (float)sum;
}

// An F16 matrix row against float activations, as llama.cpp's ggml_vec_dot_f16
// sums it for a single token: the activations rounded to binary16, then the
// same blocks, accumulators and order as the attention scores above.
template <int STEP>
void vec_dot_f16_ggml(int64_t n, float *s, const void *x, const void *y) {
  *s = dot_f16_ggml<STEP, true>(static_cast<const float *>(y), static_cast<const uint16_t *>(x), (int32_t)n);
}

// An F32 matrix row against float activations, as llama.cpp's ggml_vec_dot_f32 sums it (a single
// token, and rows its llamafile gemm leaves): blocks of STEP elements (64 in its AVX-512 builds, 32
// in its AVX2 ones) through four accumulators of STEP / 4 lanes, reduced as its f16 dot above; the
// n % STEP elements left added to that float one product at a time (FMA, as its build contracts it).
template <int STEP>
void vec_dot_f32_ggml(int64_t n, float *s, const void *vx, const void *vy) {
  const float *x = static_cast<const float *>(vx), *y = static_cast<const float *>(vy);
  constexpr int W = STEP / 32;
  const int64_t np = n & ~(int64_t)(STEP - 1);
  float sum = 0.0f;
  if (np > 0) {
    __m256 acc[4][W];
    for (int j = 0; j < 4; j++)
      for (int w = 0; w < W; w++) acc[j][w] = _mm256_setzero_ps();
    for (int64_t i = 0; i < np; i += STEP)
      for (int j = 0; j < 4; j++)
        for (int w = 0; w < W; w++) {
          const int64_t o = i + j * (STEP / 4) + 8 * w;
          acc[j][w] = _mm256_fmadd_ps(_mm256_loadu_ps(x + o), _mm256_loadu_ps(y + o), acc[j][w]);
        }
    __m256 r[W];
    for (int w = 0; w < W; w++) r[w] = _mm256_add_ps(_mm256_add_ps(acc[0][w], acc[2][w]), _mm256_add_ps(acc[1][w], acc[3][w]));
    __m128 t;
    if (W == 1) {
      t = _mm_add_ps(_mm256_castps256_ps128(r[0]), _mm256_extractf128_ps(r[0], 1));
      t = _mm_hadd_ps(t, t);
      t = _mm_hadd_ps(t, t);
    } else {
      const __m256 h = _mm256_add_ps(r[W - 1], r[0]);
      t = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
      t = _mm_add_ps(t, _mm_movehl_ps(t, t));
      t = _mm_add_ss(t, _mm_shuffle_ps(t, t, 1));
    }
    sum = _mm_cvtss_f32(t);
  }
  for (int64_t i = np; i < n; i++) sum = fmaf(x[i], y[i], sum);
  *s = sum;
}

// Then the online softmax over the positions (running maximum M and sum S,
// the exponentials correctly rounded, see expf_rounded), and the values, up
// to 128 dimensions per pass in registers, rounded to binary16 after every
// rescale and every multiply-add as llama.cpp's binary16 accumulator is.
template <int STEP>
void attn_acc16(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, int32_t n_kv, int32_t d, float scale,
                float softcap, float *scratch, float *out) {
  float *vs = scratch;   // n_kv: the weight of each position's value row
  float *ms = vs + n_kv; // n_kv: the rescale of the sum before it (1 unless a new maximum)
  float *qh = ms + n_kv; // d: q at binary16 precision
  for (int32_t i = 0; i < d; i += 8) _mm256_storeu_ps(qh + i, round_f16(_mm256_loadu_ps(q + i)));
  // The exponent of every weight first (llama.cpp's recurrence: at a new
  // maximum the sum so far is rescaled by e^(M_old - x) and the value's
  // weight is 1; otherwise its weight is e^(x - M)), then all exponentials
  // at once, then the running sum.
  float M = -INFINITY;
  for (int32_t s = 0; s < n_kv; s++) {
    float x = dot_f16_ggml<STEP>(qh, k + (size_t)s * stride, d) * scale;
    if (softcap != 0.0f) x = softcap * tanhf(x);
    if (x > M) {
      ms[s] = M - x; // -inf at the first position: its rescale is 0
      vs[s] = 0.0f;
      M = x;
    } else {
      ms[s] = 0.0f;
      vs[s] = x - M;
    }
  }
  expf_rounded(vs, n_kv);
  expf_rounded(ms, n_kv);
  float S = 0.0f;
  // S * ms rounded, then + vs rounded: llama.cpp's builds do not fuse this one (checked on its outputs)
  for (int32_t s = 0; s < n_kv; s++) S = S * ms[s] + vs[s];
  const __m256 inv = _mm256_set1_ps(S == 0.0f ? 0.0f : 1.0f / S);
  for (int32_t i0 = 0; i0 < d; i0 += 128) {
    const int nv = d - i0 >= 128 ? 16 : (d - i0) / 8;
    __m256 acc[16];
    for (int j = 0; j < nv; j++) acc[j] = _mm256_setzero_ps();
    const uint16_t *vr = v + i0;
    for (int32_t t = 0; t < n_kv; t++, vr += stride) {
      if (ms[t] != 1.0f) {
        const __m256 m = _mm256_set1_ps(ms[t]);
        for (int j = 0; j < nv; j++) acc[j] = round_f16(_mm256_mul_ps(acc[j], m));
      }
      const __m256 w = _mm256_set1_ps(vs[t]);
      for (int j = 0; j < nv; j++) acc[j] = round_f16(_mm256_fmadd_ps(load_kv(vr + 8 * j), w, acc[j]));
    }
    for (int j = 0; j < nv; j++) _mm256_storeu_ps(out + i0 + 8 * j, _mm256_mul_ps(acc[j], inv));
  }
  scratch[0] = M; // for attention sinks (ref/llama_ops.h)
  scratch[1] = S;
}

// KILN_KV_F16_MM (ref/llama_ops.cpp has the plain statement). A product of
// two binary16 values is exact in float, so the sums in double are those of
// the reference: the value sums in the same order (position by position, a
// dimension per lane), the score sums in lanes, which can differ from the
// reference's sequential double sum only below double precision.
inline double hsum_pd(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

void attn_mm(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, int32_t n_kv, int32_t d, float scale,
             float softcap, float *scratch, float *out) {
  float *w = scratch;         // n_kv
  float *qh = scratch + n_kv; // d: q at binary16 precision
  for (int32_t i = 0; i < d; i += 8) _mm256_storeu_ps(qh + i, round_f16(_mm256_loadu_ps(q + i)));
  float mx = -INFINITY;
  for (int32_t s = 0; s < n_kv; s++) {
    const uint16_t *kr = k + (size_t)s * stride;
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    for (int32_t i = 0; i < d; i += 8) {
      const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(qh + i), load_kv(kr + i));
      a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
      a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
    }
    float x = (float)hsum_pd(_mm256_add_pd(a0, a1)) * scale;
    if (softcap != 0.0f) x = softcap * tanhf(x);
    w[s] = x;
    mx = x > mx ? x : mx;
  }
  for (int32_t s = 0; s < n_kv; s++) w[s] -= mx;
  expf_rounded(w, n_kv);
  double sum = 0;
  for (int32_t s = 0; s < n_kv; s++) sum += w[s];
  const float inv = (float)(1.0 / sum);
  int32_t s = 0;
  for (; s + 8 <= n_kv; s += 8) _mm256_storeu_ps(w + s, round_f16(_mm256_mul_ps(_mm256_loadu_ps(w + s), _mm256_set1_ps(inv))));
  for (; s < n_kv; s++) w[s] = kiln_f16_to_f32(kiln_f32_to_f16(w[s] * inv));
  // the values, 16 dimensions per pass (four double accumulators of four)
  for (int32_t i0 = 0; i0 < d; i0 += 16) {
    const int nv = d - i0 >= 16 ? 2 : 1;
    __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    const uint16_t *vr = v + i0;
    for (int32_t t = 0; t < n_kv; t++, vr += stride) {
      const __m256 wt = _mm256_set1_ps(w[t]);
      for (int j = 0; j < nv; j++) {
        const __m256 p = _mm256_mul_ps(wt, load_kv(vr + 8 * j));
        acc[2 * j] = _mm256_add_pd(acc[2 * j], _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
        acc[2 * j + 1] = _mm256_add_pd(acc[2 * j + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
      }
    }
    for (int j = 0; j < nv; j++)
      _mm256_storeu_ps(out + i0 + 8 * j, _mm256_set_m128(_mm256_cvtpd_ps(acc[2 * j + 1]), _mm256_cvtpd_ps(acc[2 * j])));
  }
}

template <int STEP>
void attn_avx2(const float *q, const void *k, const void *v, size_t stride, int32_t n_kv, int32_t head_dim, float scale,
               float softcap, int kv_f16, float *scratch, float *out) {
  if (head_dim % 8 != 0) {
    kiln_attn_ref(q, k, v, stride, n_kv, head_dim, scale, softcap, kv_f16, scratch, out);
    return;
  }
  if (softcap != 0.0f) scale /= softcap; // llama.cpp: softcap * tanh(q . k * (scale / softcap))
  if (kv_f16 == KILN_KV_F16_MM) {
    attn_mm(q, static_cast<const uint16_t *>(k), static_cast<const uint16_t *>(v), stride, n_kv, head_dim, scale, softcap,
            scratch, out);
    return;
  }
  if (kv_f16 == KILN_KV_F16_ACC16)
    attn_acc16<STEP>(q, static_cast<const uint16_t *>(k), static_cast<const uint16_t *>(v), stride, n_kv, head_dim, scale,
                     softcap, scratch, out);
  else if (kv_f16)
    attn<uint16_t>(q, k, v, stride, n_kv, head_dim, scale, softcap, scratch, out);
  else
    attn<float>(q, k, v, stride, n_kv, head_dim, scale, softcap, scratch, out);
}

// ---- attention for several queries of one KV head ---------------------------
//
// Scores: eight cache positions at a time, their K rows converted once and
// transposed (Kt[i] = dimension i of the eight positions), so each query gets
// eight scores from head_dim multiply-adds with its own values broadcast, and
// no horizontal sums. Values: converted to f32 once and shared by all queries.

// 8x8 transpose of floats in registers.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Scores of G queries (G <= 8) at the eight positions in Kt: one accumulator
// per query, so the G multiply-add chains run side by side.
template <int G>
inline void score_block(const float *const *q, int j0, const float *kt, int32_t d, __m256 scale, float *S, size_t n8, size_t s0) {
  __m256 acc[G];
  for (int g = 0; g < G; g++) acc[g] = _mm256_setzero_ps();
  for (int32_t i = 0; i < d; i++) {
    const __m256 k = _mm256_loadu_ps(kt + 8 * i);
    for (int g = 0; g < G; g++) acc[g] = _mm256_fmadd_ps(_mm256_broadcast_ss(q[j0 + g] + i), k, acc[g]);
  }
  for (int g = 0; g < G; g++) _mm256_storeu_ps(S + (size_t)(j0 + g) * n8 + s0, _mm256_mul_ps(acc[g], scale));
}

template <class T>
void attn_batch(const float *const *q, float *const *out, const int32_t *kv0, const int32_t *n_kv, int nq, const void *vk,
                const void *vv, size_t stride, int32_t d, float scale, float softcap, float *scratch) {
  const T *k = static_cast<const T *>(vk), *v = static_cast<const T *>(vv);
  int32_t n_max = 0;
  for (int j = 0; j < nq; j++) n_max = n_kv[j] > n_max ? n_kv[j] : n_max;
  const size_t n8 = ((size_t)n_max + 7) / 8 * 8;
  float *S = scratch;                 // nq rows of n8 scores, then weights
  float *kt = S + (size_t)nq * n8;    // 8 * d: the current block of K, transposed
  float *vf = kt + 8 * (size_t)d;     // n8 rows of d: V as floats
  const __m256 vscale = _mm256_set1_ps(scale);
  for (size_t s0 = 0; s0 < n8; s0 += 8) {
    for (int32_t i0 = 0; i0 < d; i0 += 8) {
      __m256 r[8];
      for (int s = 0; s < 8; s++)
        r[s] = s0 + s < (size_t)n_max ? load_kv(k + (s0 + s) * stride + i0) : _mm256_setzero_ps();
      transpose8(r);
      for (int i = 0; i < 8; i++) _mm256_storeu_ps(kt + 8 * (i0 + i), r[i]);
    }
    int j = 0;
    for (; j + 8 <= nq; j += 8) score_block<8>(q, j, kt, d, vscale, S, n8, s0);
    switch (nq - j) {
    case 7: score_block<7>(q, j, kt, d, vscale, S, n8, s0); break;
    case 6: score_block<6>(q, j, kt, d, vscale, S, n8, s0); break;
    case 5: score_block<5>(q, j, kt, d, vscale, S, n8, s0); break;
    case 4: score_block<4>(q, j, kt, d, vscale, S, n8, s0); break;
    case 3: score_block<3>(q, j, kt, d, vscale, S, n8, s0); break;
    case 2: score_block<2>(q, j, kt, d, vscale, S, n8, s0); break;
    case 1: score_block<1>(q, j, kt, d, vscale, S, n8, s0); break;
    default: break;
    }
  }
  for (int32_t s = 0; s < n_max; s++)
    for (int32_t i = 0; i < d; i += 8) _mm256_storeu_ps(vf + (size_t)s * d + i, load_kv(v + (size_t)s * stride + i));
  for (int j = 0; j < nq; j++) {
    const int32_t first = kv0 ? kv0[j] : 0; // a sliding window's first position
    float *w = S + (size_t)j * n8 + first;
    const int32_t n = n_kv[j] - first;
    if (softcap != 0.0f) softcap_scores(w, n, softcap);
    const float inv = softmax_exp(w, n); // over the query's own (causal, windowed) positions
    for (int32_t i0 = 0; i0 < d; i0 += 32) {
      const int nv = d - i0 >= 32 ? 4 : (d - i0) / 8;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      const float *vr = vf + (size_t)first * d + i0;
      for (int32_t t = 0; t < n; t++, vr += d) {
        const __m256 wt = _mm256_set1_ps(w[t] * inv);
        for (int c = 0; c < nv; c++) acc[c] = _mm256_fmadd_ps(wt, _mm256_loadu_ps(vr + 8 * c), acc[c]);
      }
      for (int c = 0; c < nv; c++) _mm256_storeu_ps(out[j] + i0 + 8 * c, acc[c]);
    }
  }
}

void attn_batch_avx2(const float *const *q, float *const *out, const int32_t *kv0, const int32_t *n_kv, int nq, const void *k,
                     const void *v, size_t stride, int32_t head_dim, float scale, float softcap, int kv_f16, float *scratch) {
  if (head_dim % 8 != 0 || kv_f16 == KILN_KV_F16_ACC16 || kv_f16 == KILN_KV_F16_MM) {
    kiln_attn_batch_ref(q, out, kv0, n_kv, nq, k, v, stride, head_dim, scale, softcap, kv_f16, scratch);
    return;
  }
  if (softcap != 0.0f) scale /= softcap;
  if (kv_f16)
    attn_batch<uint16_t>(q, out, kv0, n_kv, nq, k, v, stride, head_dim, scale, softcap, scratch);
  else
    attn_batch<float>(q, out, kv0, n_kv, nq, k, v, stride, head_dim, scale, softcap, scratch);
}

// llama.cpp's vector expf (ref/ggml_expf.h) for 8 lanes: the power of two
// goes into the exponent bits where |k| <= 126 (exact), lane by lane through
// the scalar model otherwise.
inline __m256 expf_ggml(__m256 x) {
  using namespace kiln_ggml_expf;
  const __m256 shift = _mm256_set1_ps(kShift);
  const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(kLog2e), shift), shift);
  const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x));
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 p = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kC5), r, _mm256_set1_ps(kC4)), r2,
                      _mm256_fmadd_ps(_mm256_set1_ps(kC3), r, _mm256_set1_ps(kC2))),
      r2, _mm256_fmadd_ps(_mm256_set1_ps(kC1), r, _mm256_set1_ps(1.0f)));
  const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(126.0f), _CMP_NLE_UQ);
  if (_mm256_movemask_ps(big) == 0) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
  alignas(32) float pv[8], nv[8];
  _mm256_store_ps(pv, p);
  _mm256_store_ps(nv, n);
  for (int i = 0; i < 8; i++) pv[i] = scale(pv[i], nv[i]);
  return _mm256_load_ps(pv);
}

// SiLU(g) * up as llama.cpp's vector loop computes it: g / (1 + e^(0 - g)) with
// its expf, a true division, times up; the last n % W elements (W: the width
// of llama.cpp's build on this CPU, 16 or 8) with libm's expf as its scalar
// tail does.
template <int W>
void silu_mul_avx2(const float *g, const float *u, float *out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  const int64_t whole = n - n % W;
  int64_t i = 0;
  for (; i < whole; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 silu = _mm256_div_ps(x, _mm256_add_ps(one, expf_ggml(_mm256_sub_ps(zero, x))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; i++) out[i] = kiln_ggml_expf::silu_mul_tail(g[i], u[i]);
}

void rmsnorm_avx2(const float *x, const float *w, float eps, int64_t n, float *out) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  // the squares rounded to float, then summed in double (the reference's rounding)
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 sq = _mm256_mul_ps(v, v);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
  }
  __m256d s = _mm256_add_pd(s0, s1);
  __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  double sum = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
  for (; i < n; i++) sum += (double)(x[i] * x[i]);
  const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
  const __m256 vs = _mm256_set1_ps(scale);
  for (i = 0; i < n; i += 8) {
    const __m256i m = head_mask(n - i);
    _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(_mm256_mul_ps(_mm256_maskload_ps(x + i, m), vs), _mm256_maskload_ps(w + i, m)));
  }
}


// ---- attention over a quantized cache (ref/kv_quant.h) ------------------------
//
// The reference's arithmetic, eight dimensions per register: the scores come
// from the table's dot product (the one llama.cpp's matches), their weights
// and rescales are exponentiated all at once (correctly rounded, as the
// reference), and the values are accumulated per 128 dimensions in
// registers: an f16 V rounded to binary16 after every step, a Q8_0 / Q4_0 V
// dequantized exactly (code times scale) and summed with FMA in f32.

// 8 values of a V row from element i (a multiple of 8) as floats.
inline __m256 load_v(const uint8_t *row, int type, int32_t i) {
  if (type == KILN_TYPE_F16) return load_kv(reinterpret_cast<const uint16_t *>(row) + i);
  const bool q8 = type == KILN_TYPE_Q8_0;
  const uint8_t *b = row + (size_t)(i / 32) * (q8 ? 34 : 18);
  uint16_t dh;
  memcpy(&dh, b, 2);
  const __m256 d = _mm256_set1_ps(kiln_f16_to_f32(dh));
  const int32_t j = i % 32;
  if (q8) return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(b + 2 + j)))), d);
  // Q4_0: values 0..15 are the low nibbles of the 16 bytes, 16..31 the high ones
  __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(b + 2 + (j & 15)));
  if (j >= 16) bytes = _mm_srli_epi16(bytes, 4);
  bytes = _mm_and_si128(bytes, _mm_set1_epi8(0x0F));
  const __m256i codes = _mm256_sub_epi32(_mm256_cvtepu8_epi32(bytes), _mm256_set1_epi32(8));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(codes), d);
}

void attn_quant_avx2(const kiln_kernel_table *kt, const float *q, const void *k, int k_type, size_t k_stride, const void *v,
                     int v_type, size_t v_stride, int32_t n_kv, int32_t d, float scale, float softcap, float *scratch,
                     float *out) {
  if (d % 8 != 0) {
    kiln_attn_quant_ref(kt, q, k, k_type, k_stride, v, v_type, v_stride, n_kv, d, scale, softcap, scratch, out);
    return;
  }
  if (softcap != 0.0f) scale /= softcap;
  float *vs = scratch;   // n_kv: the weight of each position's value row
  float *ms = vs + n_kv; // n_kv: the rescale of what was summed before it
  void *qk = ms + n_kv;  // q in K's dot type
  kt->from_float[k_type == KILN_TYPE_F16 ? KILN_TYPE_F16 : KILN_TYPE_Q8_0](q, qk, d);
  const kiln_vec_dot_fn dot = kt->vec_dot[k_type];
  float M = -INFINITY;
  const uint8_t *kr = static_cast<const uint8_t *>(k);
  for (int32_t s = 0; s < n_kv; s++, kr += k_stride) {
    float x;
    dot(d, &x, kr, qk);
    x *= scale;
    if (softcap != 0.0f) x = softcap * tanhf(x);
    if (x > M) {
      ms[s] = M - x; // -inf at the first position: its rescale is 0
      vs[s] = 0.0f;
      M = x;
    } else {
      ms[s] = 0.0f;
      vs[s] = x - M;
    }
  }
  expf_rounded(vs, n_kv);
  expf_rounded(ms, n_kv);
  float S = 0.0f;
  for (int32_t s = 0; s < n_kv; s++) S = fmaf(S, ms[s], vs[s]);
  const __m256 inv = _mm256_set1_ps(S == 0.0f ? 0.0f : 1.0f / S);
  const bool v16 = v_type == KILN_TYPE_F16;
  for (int32_t i0 = 0; i0 < d; i0 += 128) {
    const int nv = d - i0 >= 128 ? 16 : (d - i0) / 8;
    __m256 acc[16];
    for (int j = 0; j < nv; j++) acc[j] = _mm256_setzero_ps();
    const uint8_t *vr = static_cast<const uint8_t *>(v);
    for (int32_t t = 0; t < n_kv; t++, vr += v_stride) {
      const __m256 w = _mm256_set1_ps(vs[t]);
      if (v16) {
        if (ms[t] != 1.0f) {
          const __m256 m = _mm256_set1_ps(ms[t]);
          for (int j = 0; j < nv; j++) acc[j] = round_f16(_mm256_mul_ps(acc[j], m));
        }
        for (int j = 0; j < nv; j++) acc[j] = round_f16(_mm256_fmadd_ps(load_v(vr, v_type, i0 + 8 * j), w, acc[j]));
      } else {
        if (ms[t] != 1.0f) {
          const __m256 m = _mm256_set1_ps(ms[t]);
          for (int j = 0; j < nv; j++) acc[j] = _mm256_mul_ps(acc[j], m);
        }
        for (int j = 0; j < nv; j++) acc[j] = _mm256_fmadd_ps(load_v(vr, v_type, i0 + 8 * j), w, acc[j]);
      }
    }
    for (int j = 0; j < nv; j++) _mm256_storeu_ps(out + i0 + 8 * j, _mm256_mul_ps(acc[j], inv));
  }
}
} // namespace

extern "C" void kiln_x86_avx2_ops_register(kiln_kernel_table *t, int wide) {
  // llama.cpp's AVX-512 builds sum f16 dot products in 64-element blocks, its AVX2 ones in 32;
  // `wide` says which of them llama.cpp would run on this CPU
  t->attn = wide ? attn_avx2<64> : attn_avx2<32>;
  t->attn_batch = attn_batch_avx2;
  t->silu_mul = wide ? silu_mul_avx2<16> : silu_mul_avx2<8>;
  // F16 matrices: a single token as llama.cpp's vec_dot (the batches go to the float gemm, as its
  // llamafile gemm takes them); no tile kernel, so a tile is vec_dot's bits
  t->vec_dot[KILN_TYPE_F16] = wide ? vec_dot_f16_ggml<64> : vec_dot_f16_ggml<32>;
  t->vec_dot_tile[KILN_TYPE_F16] = nullptr;
  // F32 matrices likewise (a mixture's router is one, at every quantization type)
  t->vec_dot[KILN_TYPE_F32] = wide ? vec_dot_f32_ggml<64> : vec_dot_f32_ggml<32>;
  t->vec_dot_tile[KILN_TYPE_F32] = nullptr;
  t->rmsnorm = rmsnorm_avx2;
  t->attn_quant = attn_quant_avx2;
}
