// Small AVX2 helpers. Include only from files compiled with -mavx2 -mfma -mf16c.
// All static: avx512.cpp includes this too, and with external linkage the
// linker could hand its (EVEX-encoded) copies to the AVX2 variant.
#pragma once
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "variant.h"

namespace kiln_avx2 {

static inline float hsum_f32(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

static inline float hmax_f32(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// Sum over pairs of u8 * s8 products, widened to 8 x int32. Callers keep each
// pair below 2^15 (u8 codes <= 63 against |s8| <= 127) so maddubs cannot saturate.
static inline __m256i dot_u8_s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Same, with each 16-bit pair sum weighted by a per-lane int16 (a sub-block scale).
static inline __m256i dot_u8_s8_scaled(__m256i u, __m256i s, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16);
}

// Signed 8-bit dot: |x| against y carrying x's sign, so maddubs applies.
static inline __m256i dot_s8_s8(__m256i x, __m256i y) { return dot_u8_s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)); }

// Scale vector for 32 values made of two 16-value sub-blocks: lanes of the low
// 128 bits (values 0..15) get a, the high ones b.
static inline __m256i scales_2x16(int a, int b) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(b)), _mm_set1_epi16(static_cast<int16_t>(a)));
}

static inline __m256i load(const void *p) { return _mm256_loadu_si256(static_cast<const __m256i *>(p)); }

// Activation code rule of blocks.h (kiln_q8_code), 8 at a time: clamp in float
// (max first, so NaN becomes -127), then round to nearest even.
static inline __m256i q8_codes(__m256 v) {
  v = _mm256_max_ps(v, _mm256_set1_ps(-127.0f));
  v = _mm256_min_ps(v, _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(v);
}

// Packs 4 x 8 int32 (already in int8 range) to 32 int8 in order.
static inline __m256i pack_i32x32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  // packs works per 128-bit lane; undo the interleave of 4-byte groups
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Software prefetch of the weights PREFETCH_AHEAD bytes past the block at p
// (`bytes` long), one line per 64 bytes: kernels call it for every block they
// read, so requests stream out at the pace the rows are consumed. Measured on
// the Sapphire Rapids VM the kernels were first tuned on (bench/matvec.ts,
// Q4_K, cold weights): no software prefetch 53-55% of the plain read
// bandwidth, the same lines requested in one burst per 4-row tile 65-70%,
// spread like this into L1 90-97%. On AMD Zen 4 (EPYC VM, one thread) the
// same prefetches into L1 held Q4_K at 51-59%, into L2 (PREFETCHT1) 73-87%:
// there each L1 prefetch holds one of the core's few L1 miss buffers for the
// whole DRAM latency, so kiln_prefetch_l2 (variant.h) picks the level by
// vendor. Prefetches past the end of a matrix are harmless hints (they never
// fault).
static const int PREFETCH_AHEAD = 8192;

// Prefetch the `bytes` at p + dist, one line per 64 bytes.
static inline void prefetch_at(const void *p, int64_t dist, int bytes) {
  const char *q = static_cast<const char *>(p) + dist;
  if (kiln_prefetch_l2) {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch(q + o, _MM_HINT_T1);
  } else {
    for (int o = 0; o < bytes; o += 64) _mm_prefetch(q + o, _MM_HINT_T0);
  }
}

static inline void prefetch_ahead(const void *p, int bytes) { prefetch_at(p, PREFETCH_AHEAD, bytes); }

// Into L1 whatever the CPU: the prompt (gemm) kernels, which reuse each weight
// block for many tokens and are bound by their arithmetic, not by DRAM.
static inline void prefetch_ahead_l1(const void *p, int bytes) {
  for (int o = 0; o < bytes; o += 64) _mm_prefetch(static_cast<const char *>(p) + PREFETCH_AHEAD + o, _MM_HINT_T0);
}

// Distance for a kernel that reads `rows` rows (bx bytes apart) side by side,
// tile after tile down the matrix. Into L2: a whole number of tiles and at
// least PREFETCH_AHEAD, so every prefetch lands on the same offset of a row of
// a later tile. A fixed distance shorter than the tile lands inside the tile
// being read (Q6_K on 4096-wide rows, 4 rows per tile: 57% of the read
// bandwidth, 115% of that with this rule; both into L2 on Zen 4). Into L1
// (Intel): PREFETCH_AHEAD as tuned there.
static inline int64_t prefetch_distance(int rows, size_t bx) {
  const int64_t tile = (int64_t)rows * (int64_t)bx;
  if (!kiln_prefetch_l2 || tile <= 0) return PREFETCH_AHEAD;
  return (PREFETCH_AHEAD + tile - 1) / tile * tile;
}

static inline float load_f32(const void *p) {
  float f;
  memcpy(&f, p, 4);
  return f;
}

} // namespace kiln_avx2
