// 256-bit kernels of the IQ types, TQ1_0/TQ2_0 and MXFP4, shared by the AVX2
// and AVX-512 variants (avx2_iq.cpp, avx512_iq.cpp), which differ in how a
// product of 16-bit pair sums and sub-block scales is accumulated (policy P:
// madd + add, or VNNI's vpdpwssd). Everything is in an anonymous namespace:
// each including file gets its own copy, compiled with its own ISA flags.
//
// Each kernel computes, per block, exactly the integer sum of the reference
// (ref/iquants.cpp) and then the same float step (kiln_iq_dot_step), so every
// variant equals the reference bit for bit. Weights are unpacked 32 values at
// a time into bytes: either unsigned grid magnitudes plus +-1 signs applied to
// the activations, or signed values whose magnitude and sign are split the
// same way, so that maddubs sees u8 x s8 (pairs stay below 2^15: magnitudes
// <= 127 against |q| <= 127).
#pragma once
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "avx2_util.h"
#include "ref/iq_tables.h"
#include "ref/iquants.h"
#include "variant.h"

namespace {

using kiln_avx2::hsum_i32;
using kiln_avx2::load;
using kiln_avx2::load_f32;
using kiln_avx2::prefetch_ahead;

// 32 bytes of +-1 from 32 sign bits (bit j of byte k: value 8k + j negative).
inline __m256i signs_pm1(uint32_t bits) {
  const __m256i v = _mm256_set1_epi32(static_cast<int>(bits));
  const __m256i spread = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_or_si256(set, _mm256_set1_epi8(1)); // 0xff | 1 = -1, 0 | 1 = 1
}

// The 128 sign codes of IQ2_XXS / IQ2_XS / IQ3_XXS as 8 bytes of +-1 each,
// derived from kiln_iq_signs8 by register_iq (before any kernel runs: the
// variant tables are built once, under a once-flag).
uint64_t g_sign64[128];

void init_sign64() {
  for (uint32_t c = 0; c < 128; c++) {
    const uint8_t bits = kiln_iq_signs8(c);
    uint64_t x = 0;
    for (int j = 0; j < 8; j++) x |= static_cast<uint64_t>((bits >> j) & 1 ? 0xff : 0x01) << (8 * j);
    g_sign64[c] = x;
  }
}

// Four 7-bit sign codes (bits 0, 7, 14, 21 of a) as 32 bytes of +-1.
inline __m256i signs_from_codes(uint32_t a) {
  const uint64_t *t = g_sign64;
  return _mm256_set_epi64x(static_cast<int64_t>(t[(a >> 21) & 127]), static_cast<int64_t>(t[(a >> 14) & 127]),
                           static_cast<int64_t>(t[(a >> 7) & 127]), static_cast<int64_t>(t[a & 127]));
}

// IQ2_XS / IQ2_S: the scale vector of group g (2 * nibble + 1: low nibble for
// values 0..15, high for 16..31) from the 8 scale bytes, all in registers:
// the eight 2s + 1 pairs as int16 dwords once per block (scales_iq2), then a
// dword broadcast and a byte shuffle per group.
inline __m256i scales_iq2(const uint8_t *sc) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(sc));
  const __m128i nib = _mm_and_si128(_mm_unpacklo_epi8(b, _mm_srli_epi16(b, 4)), _mm_set1_epi8(0x0f)); // lo0 hi0 lo1 hi1 ...
  const __m256i w = _mm256_cvtepu8_epi16(nib);
  return _mm256_add_epi16(_mm256_add_epi16(w, w), _mm256_set1_epi16(1));
}

inline __m256i scale_of_group(__m256i scales, int g) {
  const __m256i d = _mm256_permutevar8x32_epi32(scales, _mm256_set1_epi32(g));
  return _mm256_shuffle_epi8(d, _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3));
}

// Eight 32-bit grid points in value order, paired into 64-bit words in
// general registers first: four qword inserts instead of eight dword ones
// (vpinsrd competes with the shuffles for one port).
inline __m256i set8_u32(uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5, uint32_t a6, uint32_t a7) {
  return _mm256_set_epi64x(static_cast<int64_t>(static_cast<uint64_t>(a7) << 32 | a6), static_cast<int64_t>(static_cast<uint64_t>(a5) << 32 | a4),
                           static_cast<int64_t>(static_cast<uint64_t>(a3) << 32 | a2), static_cast<int64_t>(static_cast<uint64_t>(a1) << 32 | a0));
}

inline __m256i scale_pair(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)), _mm_set1_epi16(static_cast<int16_t>(lo)));
}

// acc += sum over 32 values of mags * signs * q, lanes of values 0..15 weighted
// by the low half of scale16, 16..31 by the high half.
template <class P> inline __m256i mag_dot(__m256i acc, __m256i mags, __m256i signs, __m256i q, __m256i scale16) {
  return P::acc(acc, _mm256_maddubs_epi16(mags, _mm256_sign_epi8(q, signs)), scale16);
}

// The same for signed weights w (int8).
template <class P> inline __m256i signed_dot(__m256i acc, __m256i w, __m256i q, __m256i scale16) {
  return P::acc(acc, _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w)), scale16);
}

inline float y_d(const kiln_block_q8_K &y) { return load_f32(&y.d); }

// ---- the types; each chunk(x, g, q, acc) adds group g's 32 values --------

template <class P> struct IQ2XXS {
  typedef kiln_block_iq2_xxs B;
  static constexpr float C = 0.125f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    uint32_t a[2];
    memcpy(a, b.qs + 4 * g, 8);
    const __m256i mags = _mm256_set_epi64x(
        static_cast<int64_t>(kiln_iq2xxs_grid[a[0] >> 24]), static_cast<int64_t>(kiln_iq2xxs_grid[(a[0] >> 16) & 0xff]),
        static_cast<int64_t>(kiln_iq2xxs_grid[(a[0] >> 8) & 0xff]), static_cast<int64_t>(kiln_iq2xxs_grid[a[0] & 0xff]));
    const int sc = 2 * static_cast<int>(a[1] >> 28) + 1;
    return mag_dot<P>(acc, mags, signs_from_codes(a[1]), q, _mm256_set1_epi16(static_cast<int16_t>(sc)));
  }
};

template <class P> struct IQ2XS {
  typedef kiln_block_iq2_xs B;
  static constexpr float C = 0.125f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const uint16_t *s = b.qs + 4 * g;
    const __m256i mags = _mm256_set_epi64x(
        static_cast<int64_t>(kiln_iq2xs_grid[s[3] & 511]), static_cast<int64_t>(kiln_iq2xs_grid[s[2] & 511]),
        static_cast<int64_t>(kiln_iq2xs_grid[s[1] & 511]), static_cast<int64_t>(kiln_iq2xs_grid[s[0] & 511]));
    const __m256i signs = _mm256_set_epi64x(static_cast<int64_t>(g_sign64[s[3] >> 9]), static_cast<int64_t>(g_sign64[s[2] >> 9]),
                                            static_cast<int64_t>(g_sign64[s[1] >> 9]), static_cast<int64_t>(g_sign64[s[0] >> 9]));
    return mag_dot<P>(acc, mags, signs, q, scale_of_group(scales_iq2(b.scales), g));
  }
};

template <class P> struct IQ2S {
  typedef kiln_block_iq2_s B;
  static constexpr float C = 0.125f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const uint8_t *s = b.qs + 4 * g;
    const unsigned h = b.qh[g];
    const __m256i mags = _mm256_set_epi64x(static_cast<int64_t>(kiln_iq2s_grid[s[3] | ((h << 2) & 0x300)]),
                                           static_cast<int64_t>(kiln_iq2s_grid[s[2] | ((h << 4) & 0x300)]),
                                           static_cast<int64_t>(kiln_iq2s_grid[s[1] | ((h << 6) & 0x300)]),
                                           static_cast<int64_t>(kiln_iq2s_grid[s[0] | ((h << 8) & 0x300)]));
    uint32_t sg;
    memcpy(&sg, b.qs + 32 + 4 * g, 4);
    return mag_dot<P>(acc, mags, signs_pm1(sg), q, scale_of_group(scales_iq2(b.scales), g));
  }
};

template <class P> struct IQ3XXS {
  typedef kiln_block_iq3_xxs B;
  static constexpr float C = 0.25f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const uint8_t *s = b.qs + 8 * g;
    const __m256i mags = set8_u32(kiln_iq3xxs_grid[s[0]], kiln_iq3xxs_grid[s[1]], kiln_iq3xxs_grid[s[2]], kiln_iq3xxs_grid[s[3]],
                                  kiln_iq3xxs_grid[s[4]], kiln_iq3xxs_grid[s[5]], kiln_iq3xxs_grid[s[6]], kiln_iq3xxs_grid[s[7]]);
    uint32_t a;
    memcpy(&a, b.qs + 64 + 4 * g, 4);
    const int sc = 2 * static_cast<int>(a >> 28) + 1;
    return mag_dot<P>(acc, mags, signs_from_codes(a), q, _mm256_set1_epi16(static_cast<int16_t>(sc)));
  }
};

template <class P> struct IQ3S {
  typedef kiln_block_iq3_s B;
  static constexpr float C = 1.0f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const uint8_t *s = b.qs + 8 * g;
    const unsigned h = b.qh[g];
    const __m256i mags = set8_u32(kiln_iq3s_grid[s[0] | ((h << 8) & 256)], kiln_iq3s_grid[s[1] | ((h << 7) & 256)],
                                  kiln_iq3s_grid[s[2] | ((h << 6) & 256)], kiln_iq3s_grid[s[3] | ((h << 5) & 256)],
                                  kiln_iq3s_grid[s[4] | ((h << 4) & 256)], kiln_iq3s_grid[s[5] | ((h << 3) & 256)],
                                  kiln_iq3s_grid[s[6] | ((h << 2) & 256)], kiln_iq3s_grid[s[7] | ((h << 1) & 256)]);
    uint32_t sg;
    memcpy(&sg, b.signs + 4 * g, 4);
    const int sc = 2 * ((b.scales[g / 2] >> (4 * (g % 2))) & 0xf) + 1;
    return mag_dot<P>(acc, mags, signs_pm1(sg), q, _mm256_set1_epi16(static_cast<int16_t>(sc)));
  }
};

// IQ1 lattice points times 8, as int8 bytes (-8, 0, 8), derived from the grid
// by register_iq.
uint64_t g_iq1_grid8[2048];

void init_iq1_grid8() {
  for (int i = 0; i < 2048; i++) {
    uint64_t g = 0;
    for (int j = 0; j < 8; j++) g |= static_cast<uint64_t>(static_cast<uint8_t>(8 * static_cast<int8_t>(kiln_iq1s_grid[i] >> (8 * j)))) << (8 * j);
    g_iq1_grid8[i] = g;
  }
}

inline int64_t delta8(bool neg) { return neg ? -1 : 0x0101010101010101ll; }

template <class P> struct IQ1S {
  typedef kiln_block_iq1_s B;
  static constexpr float C = 0.125f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const uint64_t *g8 = g_iq1_grid8;
    const uint8_t *s = b.qs + 4 * g;
    const unsigned h = b.qh[g];
    const __m256i grid = _mm256_set_epi64x(static_cast<int64_t>(g8[s[3] | ((h >> 1) & 0x700)]),
                                           static_cast<int64_t>(g8[s[2] | ((h << 2) & 0x700)]),
                                           static_cast<int64_t>(g8[s[1] | ((h << 5) & 0x700)]),
                                           static_cast<int64_t>(g8[s[0] | ((h << 8) & 0x700)]));
    const __m256i w = _mm256_add_epi8(grid, _mm256_set1_epi64x(delta8(h & 0x8000)));
    const int sc = 2 * ((h >> 12) & 7) + 1;
    return signed_dot<P>(acc, w, q, _mm256_set1_epi16(static_cast<int16_t>(sc)));
  }
};

template <class P> struct IQ1M {
  typedef kiln_block_iq1_m B;
  static constexpr float C = 0.125f;
  static float d(const B &b) { return _cvtsh_ss(kiln_iq1m_d_bits(b.scales)); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const uint64_t *g8 = g_iq1_grid8;
    const uint8_t *s = b.qs + 4 * g;
    const unsigned h0 = b.qh[2 * g], h1 = b.qh[2 * g + 1];
    const __m256i grid = _mm256_set_epi64x(static_cast<int64_t>(g8[s[3] | ((h1 << 4) & 0x700)]),
                                           static_cast<int64_t>(g8[s[2] | ((h1 << 8) & 0x700)]),
                                           static_cast<int64_t>(g8[s[1] | ((h0 << 4) & 0x700)]),
                                           static_cast<int64_t>(g8[s[0] | ((h0 << 8) & 0x700)]));
    const __m256i delta = _mm256_set_epi64x(delta8(h1 & 0x80), delta8(h1 & 0x08), delta8(h0 & 0x80), delta8(h0 & 0x08));
    uint16_t sc[4];
    memcpy(sc, b.scales, 8);
    const unsigned word = sc[g / 2] >> (6 * (g % 2));
    return signed_dot<P>(acc, _mm256_add_epi8(grid, delta), q, scale_pair(2 * (word & 7) + 1, 2 * ((word >> 3) & 7) + 1));
  }
};

// Values 0..15 from the low nibbles of 16 bytes, 16..31 from the high ones,
// each mapped through a 16-entry table.
inline __m256i nibble_lookup(const uint8_t *qs, __m256i table) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
  const __m256i idx = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
  return _mm256_shuffle_epi8(table, idx);
}

inline __m256i table16(const int8_t *t) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(t));
  return _mm256_set_m128i(v, v);
}

// IQ4_XS: the eight 6-bit scales (minus 32) of a block as int16 pairs in
// dwords, computed in registers once per block; group g's is broadcast by
// one vpermd.
inline __m256i scales_iq4xs(const kiln_block_iq4_xs &b) {
  uint32_t lo;
  memcpy(&lo, b.scales_l, 4);
  const __m256i l = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(lo)), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                     _mm256_set1_epi32(0xf));
  const __m256i h = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(b.scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                     _mm256_set1_epi32(3));
  const __m256i ls = _mm256_sub_epi32(_mm256_or_si256(l, _mm256_slli_epi32(h, 4)), _mm256_set1_epi32(32));
  return _mm256_or_si256(_mm256_and_si256(ls, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(ls, 16));
}

template <class P> struct IQ4XS {
  typedef kiln_block_iq4_xs B;
  static constexpr float C = 1.0f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const __m256i w = nibble_lookup(b.qs + 16 * g, table16(kiln_kvalues_iq4nl));
    return signed_dot<P>(acc, w, q, _mm256_permutevar8x32_epi32(scales_iq4xs(b), _mm256_set1_epi32(g)));
  }
};

template <class P> struct TQ2 {
  typedef kiln_block_tq2_0 B;
  static constexpr float C = 1.0f;
  static float d(const B &b) { return _cvtsh_ss(b.d); }
  static __m256i chunk(const B &b, int g, __m256i q, __m256i acc) {
    const __m256i bytes = load(b.qs + 32 * (g / 4));
    const __m256i code = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * (g % 4)), _mm256_set1_epi8(3));
    return signed_dot<P>(acc, _mm256_sub_epi8(code, _mm256_set1_epi8(1)), q, _mm256_set1_epi16(1));
  }
};

// A 256-value-block type against Q8_K: integer sum per block, then the
// reference's float step.
template <class T> void dot_qk(int64_t n, float *s, const void *vx, const void *vy) {
  const typename T::B *x = static_cast<const typename T::B *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    prefetch_ahead(x + i, sizeof(typename T::B));
    // two accumulators: a chain of eight dependent vpdpwssd would cost its latency eight times
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (int g = 0; g < 8; g += 2) {
      acc0 = T::chunk(x[i], g, load(y[i].qs + 32 * g), acc0);
      acc1 = T::chunk(x[i], g + 1, load(y[i].qs + 32 * g + 32), acc1);
    }
    sum = kiln_iq_dot_step(sum, T::d(x[i]), y_d(y[i]), T::C, hsum_i32(_mm256_add_epi32(acc0, acc1)));
  }
  *s = sum;
}

// TQ1_0: the base-3 digits are decoded in scalar code (a rare format), then
// summed like the others.
template <class P> void dot_tq1(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_tq1_0 *x = static_cast<const kiln_block_tq1_0 *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  float sum = 0;
  alignas(32) uint8_t t[KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    kiln_tq1_trits(x[i], t);
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
      const __m256i w = _mm256_sub_epi8(load(t + 32 * g), _mm256_set1_epi8(1));
      acc = signed_dot<P>(acc, w, load(y[i].qs + 32 * g), _mm256_set1_epi16(1));
    }
    sum = kiln_iq_dot_step(sum, _cvtsh_ss(x[i].d), y_d(y[i]), 1.0f, hsum_i32(acc));
  }
  *s = sum;
}

// IQ4_NL / MXFP4 against Q8_0: one 32-value block at a time.
template <class P, bool MX> void dot_nl(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q8_0 *y = static_cast<const kiln_block_q8_0 *>(vy);
  const __m256i table = table16(MX ? kiln_kvalues_mxfp4 : kiln_kvalues_iq4nl);
  const __m256i one = _mm256_set1_epi16(1);
  float sum = 0;
  for (int64_t i = 0; i < n / KILN_QK; i++) {
    float dx;
    const uint8_t *qs;
    if (MX) {
      const kiln_block_mxfp4 &b = static_cast<const kiln_block_mxfp4 *>(vx)[i];
      if (i % 4 == 0) prefetch_ahead(&b, 4 * sizeof b);
      dx = kiln_e8m0_half(b.e);
      qs = b.qs;
    } else {
      const kiln_block_iq4_nl &b = static_cast<const kiln_block_iq4_nl *>(vx)[i];
      if (i % 4 == 0) prefetch_ahead(&b, 4 * sizeof b);
      dx = _cvtsh_ss(b.d);
      qs = b.qs;
    }
    const __m256i acc = signed_dot<P>(_mm256_setzero_si256(), nibble_lookup(qs, table), load(y[i].qs), one);
    sum = kiln_iq_dot_step(sum, dx, _cvtsh_ss(y[i].d), 1.0f, hsum_i32(acc));
  }
  *s = sum;
}

template <class P> void register_iq(kiln_kernel_table *t) {
  init_iq1_grid8();
  init_sign64();
  t->vec_dot[KILN_TYPE_IQ2_XXS] = dot_qk<IQ2XXS<P>>;
  t->vec_dot[KILN_TYPE_IQ2_XS] = dot_qk<IQ2XS<P>>;
  t->vec_dot[KILN_TYPE_IQ2_S] = dot_qk<IQ2S<P>>;
  t->vec_dot[KILN_TYPE_IQ3_XXS] = dot_qk<IQ3XXS<P>>;
  t->vec_dot[KILN_TYPE_IQ3_S] = dot_qk<IQ3S<P>>;
  t->vec_dot[KILN_TYPE_IQ1_S] = dot_qk<IQ1S<P>>;
  t->vec_dot[KILN_TYPE_IQ1_M] = dot_qk<IQ1M<P>>;
  t->vec_dot[KILN_TYPE_IQ4_XS] = dot_qk<IQ4XS<P>>;
  t->vec_dot[KILN_TYPE_TQ2_0] = dot_qk<TQ2<P>>;
  t->vec_dot[KILN_TYPE_TQ1_0] = dot_tq1<P>;
  t->vec_dot[KILN_TYPE_IQ4_NL] = dot_nl<P, false>;
  t->vec_dot[KILN_TYPE_MXFP4] = dot_nl<P, true>;
}

} // namespace
