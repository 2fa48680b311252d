// AVX-512 (F/BW/VL/VNNI) kernels. Compiled with the matching -m flags; only run
// after kiln_cpu_probe() reported them. Types not overridden here keep their
// AVX2 kernels. Same linkage rule as avx2.cpp: nothing here may be an
// external inline/template.
//
// Measured on this project's Sapphire Rapids VM (bench/matvec.ts and the
// kernels' perf mode): 512-bit code runs on two vector ports and 256-bit code
// on three, so the 512-bit width pays only where it halves the work of
// unpacking (the K formats, whose super-blocks fill whole registers); the
// 32-value formats use 256-bit VNNI. VPDPWSSD folds the sub-block scales in
// with the accumulation (maddubs, then scale and add in one instruction).
#include <immintrin.h>
#include <math.h>

#include "avx2_util.h"
#include "ref/blocks.h"
#include "ref/kpack.h"
#include "tile.h"
#include "variant.h"

using namespace kiln_avx2;

namespace {

static inline __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

// [lo, hi] -> one 512-bit register.
static inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

static inline __m256i join128(__m128i lo, __m128i hi) { return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1); }

static inline __m128i load128(const void *p) { return _mm_loadu_si128(static_cast<const __m128i *>(p)); }

static inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// 32 bytes duplicated into both halves, the upper half shifted right by `hi_shift`
// bits (per 16-bit lane; callers mask to bits that cannot cross bytes) and the
// lower half by `lo_shift`.
static inline __m512i split_shift(__m256i v, int lo_shift, int hi_shift) {
  const __m512i shifts = join(_mm256_set1_epi16(static_cast<int16_t>(lo_shift)), _mm256_set1_epi16(static_cast<int16_t>(hi_shift)));
  return _mm512_srlv_epi16(join(v, v), shifts);
}

// (a & b) | c in one instruction.
static inline __m512i and_or(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0xEA); }

// PSHUFB control that fills a 128-bit lane with 16-bit element k of that lane.
static inline __m256i pick16(int k) { return _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * k)); }

// ---- Q4_K ------------------------------------------------------------------

// The 8 six-bit scales and mins of a Q4_K/Q5_K super-block (layout in
// ref/kpack.h), unpacked four at a time in 32-bit words: bytes 0..7 of *sc are
// sc[0..7], of *mn mn[0..7].
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

// One Q4_K super-block against Q8_K, 128 values at a time: 64 bytes of nibbles
// hold chunks 2p and 2p + 1; their low nibbles are values 128p + 0..31 and
// 128p + 64..95 (sub-blocks 4p, 4p + 2), the high ones 128p + 32..63 and
// 128p + 96..127 (sub-blocks 4p + 1, 4p + 3). VPDPBUSD sums each 4 products
// of the low (a) and high (b) nibbles into 32-bit lanes (|sum| <= 4 * 15 * 128,
// so they pack to 16 bits exactly); a 128-bit lane of packs(a, b) then holds
// 4 sums of one sub-block and 4 of the next, and one VPDPWSSD weights them by
// their scales. Against maddubs + a scale multiply per 64 codes this saves
// half the scale shuffles (Zen 4, one thread, weights in L2: 25 -> 28-30 GB/s).
//
// Float sums as llama.cpp's gemv over its repacked Q4_K (what it runs for a
// single token and for the tokens of a batch past its last whole group of 4):
// per super-block, the exact integer sum of the scaled sub-block dots and the
// one of the mins times the activation sums, each multiplied into its own
// float accumulator by one FMA (with d * dy and dmin * dy), the second
// subtracted from the first at the end.
template <int NR, int NC>
struct Q4K {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    const __m512i m4 = _mm512_set1_epi8(0xf);
    // PSHUFB control per half p: in 128-bit lanes 0, 1 the words of scales 4p
    // and 4p + 1 (4 each), in lanes 2, 3 those of 4p + 2 and 4p + 3
    __m512i pick[2];
    for (int p = 0; p < 2; p++) {
      const __m128i l01 = _mm_unpacklo_epi64(_mm256_castsi256_si128(pick16(4 * p)), _mm256_castsi256_si128(pick16(4 * p + 1)));
      const __m128i l23 = _mm_unpacklo_epi64(_mm256_castsi256_si128(pick16(4 * p + 2)), _mm256_castsi256_si128(pick16(4 * p + 3)));
      pick[p] = join(join128(l01, l01), join128(l23, l23));
    }
    const int64_t pf = prefetch_distance(NR, bx);
    // lane r of acc[c] / accm[c] is row r (lanes past NR stay 0)
    __m128 acc[NC], accm[NC];
    for (int c = 0; c < NC; c++) acc[c] = accm[c] = _mm_setzero_ps();
    for (int64_t i = 0; i < n / KILN_QK_K; i++) {
      const kiln_block_q8_K *yb[NC];
      __m128i bpair[NC]; // sums of the 32-value sub-blocks of the activations
      for (int c = 0; c < NC; c++) {
        yb[c] = reinterpret_cast<const kiln_block_q8_K *>(y + c * by) + i;
        bpair[c] = _mm_hadd_epi16(load128(yb[c]->bsums), load128(yb[c]->bsums + 8));
      }
      const kiln_block_q4_K *xb[NR];
      __m512i sc[NR];
      __m128i mn[NR];
      for (int r = 0; r < NR; r++) {
        xb[r] = reinterpret_cast<const kiln_block_q4_K *>(x + r * bx) + i;
        prefetch_at(xb[r], pf, sizeof(kiln_block_q4_K));
        uint64_t sc8, mn8;
        q4k_scales(xb[r]->scales, &sc8, &mn8);
        sc[r] = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        mn[r] = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
      }
      __m512i sumi[NR][NC];
      for (int r = 0; r < NR; r++)
        for (int c = 0; c < NC; c++) sumi[r][c] = _mm512_setzero_si512();
      for (int p = 0; p < 2; p++) {
        __m512i lo[NR], hi[NR], sp[NR];
        for (int r = 0; r < NR; r++) {
          const __m512i q = load512(xb[r]->qs + 64 * p);
          lo[r] = _mm512_and_si512(q, m4);
          hi[r] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
          sp[r] = _mm512_shuffle_epi8(sc[r], pick[p]);
        }
        for (int c = 0; c < NC; c++) {
          const int8_t *yq = yb[c]->qs + 128 * p;
          const __m512i ylo = join(load(yq), load(yq + 64));
          const __m512i yhi = join(load(yq + 32), load(yq + 96));
          for (int r = 0; r < NR; r++) {
            const __m512i a = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[r], ylo);
            const __m512i b = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[r], yhi);
            sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_packs_epi32(a, b), sp[r]);
          }
        }
      }
      alignas(16) float dv[4] = {}, mv[4] = {};
      for (int r = 0; r < NR; r++) {
        dv[r] = f16(xb[r]->d);
        mv[r] = f16(xb[r]->dmin);
      }
      const __m128 d4 = _mm_load_ps(dv), dmin4 = _mm_load_ps(mv);
      for (int c = 0; c < NC; c++) {
        // each row's integer sums (exact in any order) gathered into its lane
        __m256i h[4];
        __m128i m[4];
        for (int r = 0; r < 4; r++) {
          h[r] = r < NR ? _mm256_add_epi32(_mm512_castsi512_si256(sumi[r][c]), _mm512_extracti64x4_epi64(sumi[r][c], 1))
                        : _mm256_setzero_si256();
          // the min term: sum_j mn_j * (activation sum of sub-block j), 4 lanes
          m[r] = r < NR ? _mm_madd_epi16(mn[r], bpair[c]) : _mm_setzero_si128();
        }
        const __m256i q = _mm256_hadd_epi32(_mm256_hadd_epi32(h[0], h[1]), _mm256_hadd_epi32(h[2], h[3]));
        const __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        const __m128i msum = _mm_hadd_epi32(_mm_hadd_epi32(m[0], m[1]), _mm_hadd_epi32(m[2], m[3]));
        const __m128 dy = _mm_set1_ps(load_f32(&yb[c]->d));
        acc[c] = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), _mm_mul_ps(d4, dy), acc[c]);
        accm[c] = _mm_fmadd_ps(_mm_cvtepi32_ps(msum), _mm_mul_ps(dmin4, dy), accm[c]);
      }
    }
    for (int c = 0; c < NC; c++) {
      alignas(16) float o[4];
      _mm_store_ps(o, _mm_sub_ps(acc[c], accm[c]));
      for (int r = 0; r < NR; r++) s[c * ldc + r] = o[r];
    }
  }
};

// ---- Q6_K ------------------------------------------------------------------

// Half h of a Q6_K super-block is 128 values: the 64 bytes ql[64h..] give the
// low nibbles of values 128h + 0..63 (low halves) and 128h + 64..127 (high
// halves); their top two bits are bit pairs 0, 1 (first 64) and 2, 3 (next
// 64) of qh[32h + l]. Codes are stored biased by 32:
// sum (q - 32) y = sum q y - 32 sum y, the second from Q8_K's block sums.
template <int NR, int NC>
struct Q6K {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    const __m512i m4 = _mm512_set1_epi8(0xf), m30 = _mm512_set1_epi8(0x30);
    // 16-bit lane k of the scale vector for values 128h + 64p + 16(k / 8) ..:
    // sub-block 8h + 4p + k / 8
    __m512i pick[2][2];
    for (int h = 0; h < 2; h++)
      for (int p = 0; p < 2; p++) {
        const int j = 8 * h + 4 * p;
        pick[h][p] = join(_mm256_set_m128i(_mm_set1_epi16((int16_t)(j + 1)), _mm_set1_epi16((int16_t)j)),
                          _mm256_set_m128i(_mm_set1_epi16((int16_t)(j + 3)), _mm_set1_epi16((int16_t)(j + 2))));
      }
    const int64_t pf = prefetch_distance(NR, bx);
    __m256 acc[NR][NC];
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KILN_QK_K; i++) {
      const kiln_block_q8_K *yb[NC];
      for (int c = 0; c < NC; c++) yb[c] = reinterpret_cast<const kiln_block_q8_K *>(y + c * by) + i;
      const kiln_block_q6_K *xb[NR];
      __m512i sc[NR];
      for (int r = 0; r < NR; r++) {
        xb[r] = reinterpret_cast<const kiln_block_q6_K *>(x + r * bx) + i;
        prefetch_at(xb[r], pf, sizeof(kiln_block_q6_K));
        sc[r] = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(load128(xb[r]->scales)));
      }
      __m512i sumi[NR][NC];
      for (int r = 0; r < NR; r++)
        for (int c = 0; c < NC; c++) sumi[r][c] = _mm512_setzero_si512();
      for (int h = 0; h < 2; h++) {
        __m512i q01[NR], q23[NR], s01[NR], s23[NR];
        for (int r = 0; r < NR; r++) {
          const __m512i a = load512(xb[r]->ql + 64 * h);
          const __m256i qh = load(xb[r]->qh + 32 * h);
          const __m512i qq = join(qh, _mm256_srli_epi16(qh, 2)); // bit pairs 0 / 1 at bits 0-1, 2 / 3 at bits 4-5
          q01[r] = and_or(a, m4, _mm512_and_si512(_mm512_slli_epi16(qq, 4), m30));
          q23[r] = and_or(_mm512_srli_epi16(a, 4), m4, _mm512_and_si512(qq, m30));
          s01[r] = _mm512_permutexvar_epi16(pick[h][0], sc[r]);
          s23[r] = _mm512_permutexvar_epi16(pick[h][1], sc[r]);
        }
        for (int c = 0; c < NC; c++) {
          const __m512i y01 = load512(yb[c]->qs + 128 * h), y23 = load512(yb[c]->qs + 128 * h + 64);
          for (int r = 0; r < NR; r++) {
            sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(q01[r], y01), s01[r]);
            sumi[r][c] = _mm512_dpwssd_epi32(sumi[r][c], _mm512_maddubs_epi16(q23[r], y23), s23[r]);
          }
        }
      }
      for (int r = 0; r < NR; r++) {
        const float d = f16(xb[r]->d);
        for (int c = 0; c < NC; c++) {
          const __m256i bias = _mm256_madd_epi16(_mm512_castsi512_si256(sc[r]), load(yb[c]->bsums));
          // lanes k and k + 8 together: the products of values 4k..4k+3 of every 32, as llama.cpp's
          // x86 vec_dot_q6_K lays them in its eight lanes (the bias lane k: 16-value sums 2k, 2k + 1)
          const __m256i t = _mm256_sub_epi32(_mm256_add_epi32(_mm512_castsi512_si256(sumi[r][c]), _mm512_extracti64x4_epi64(sumi[r][c], 1)),
                                             _mm256_slli_epi32(bias, 5));
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(load_f32(&yb[c]->d) * d), _mm256_cvtepi32_ps(t), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) s[c * ldc + r] = hsum_f32(acc[r][c]);
  }
};

// ---- Q8_0 and Q4_0 (32-value blocks, 256-bit VNNI) ----------------------------

// Q8_0 x Q8_0: |x| against y carrying x's sign, so VPDPBUSD (u8 x s8) applies.
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
        const __m256i xq = load(xb->qs);
        const __m256i ax = _mm256_abs_epi8(xq);
        const float dx = f16(xb->d);
        for (int c = 0; c < NC; c++) {
          const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, _mm256_sign_epi8(yq[c], xq));
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) s[c * ldc + r] = hsum_f32(acc[r][c]);
  }
};

// The 32-value nibble formats against Q8_0, two blocks per step (their
// nibbles side by side in one register; an odd last block goes alone in the
// low lanes). Q5_0 adds a fifth bit per value from its 32-bit qh. Codes are
// stored biased: sum (q - off) y = sum q y - off sum y.
static inline __m256i nibble_pair(const void *a, const void *b, bool pair) {
  return pair ? join128(load128(a), load128(b)) : _mm256_zextsi128_si256(load128(a));
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
    const __m256i m4 = _mm256_set1_epi8(0xf), b4 = _mm256_set1_epi8(0x10);
    const __m256i v = nibble_pair(xb[0].qs, xb[1].qs, pair);
    uint32_t h0, h1 = 0;
    memcpy(&h0, xb[0].qh, 4);
    if (pair) memcpy(&h1, xb[1].qh, 4);
    // bit j of qh is bit 4 of value j: values 0..15 are the low nibbles, 16..31 the high
    // (adding 16 sets bit 4, which the nibbles leave clear)
    const __m256i l = _mm256_and_si256(v, m4), h = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    *lo = _mm256_mask_add_epi8(l, (h0 & 0xffffu) | (h1 << 16), l, b4);
    *hi = _mm256_mask_add_epi8(h, (h0 >> 16) | (h1 & 0xffff0000u), h, b4);
  }
};

template <class B, int NR, int NC>
struct Legacy4 {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    const __m256i off = _mm256_set1_epi8(B::offset);
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
        ylo[c] = nibble_pair(yb[0].qs, yb[1].qs, pair);
        yhi[c] = nibble_pair(yb[0].qs + 16, yb[1].qs + 16, pair);
        // -off * sum y: the starting value of the code dot, so the bias costs nothing per row
        ysum[c] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                   _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), off, ylo[c]), off, yhi[c]));
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
          const __m256i p = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(ysum[c], lo, ylo[c]), hi, yhi[c]);
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

// Q5_0 x Q8_0 one block at a time, summed as llama.cpp's x86 builds sum it
// (its vec_dot, and its llamafile gemm for batches): the codes expanded to
// signed bytes in value order, eight 32-bit lanes of four consecutive
// products each, converted and multiplied into eight float accumulators by
// d_x * d_y, then the Q8_0 kernel's horizontal sum. (Two blocks per register,
// as Legacy4 sums them, lands every lane on eight products instead.)
template <int NR, int NC>
struct Q50 {
  static void run(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    const __m128i m4 = _mm_set1_epi8(0xf);
    const __m256i b4 = _mm256_set1_epi8(0x10);
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
        const kiln_block_q5_0 *xb = reinterpret_cast<const kiln_block_q5_0 *>(x + r * bx) + i;
        prefetch_ahead(xb, sizeof(kiln_block_q5_0));
        const __m128i q = load128(xb->qs);
        // values 0..15 are the low nibbles, 16..31 the high ones; bit j of qh is bit 4 of value j
        const __m256i v = join128(_mm_and_si128(q, m4), _mm_and_si128(_mm_srli_epi16(q, 4), m4));
        uint32_t h;
        memcpy(&h, xb->qh, 4);
        const __m256i xq = _mm256_sub_epi8(_mm256_mask_add_epi8(v, h, v, b4), b4);
        const __m256i ax = _mm256_abs_epi8(xq);
        const float dx = f16(xb->d);
        for (int c = 0; c < NC; c++) {
          const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, _mm256_sign_epi8(yq[c], xq));
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
    }
    for (int r = 0; r < NR; r++)
      for (int c = 0; c < NC; c++) s[c * ldc + r] = hsum_f32(acc[r][c]);
  }
};

// ---- Q5_K (vec_dot only) -------------------------------------------------------

// 64 u8 codes (<= 31) against 64 s8 activations; the first 32 products are
// weighted by a, the last 32 by b.
static inline __m512i dot_scaled(__m512i u, __m512i s, int a, int b) {
  const __m512i w = join(_mm256_set1_epi16(static_cast<int16_t>(a)), _mm256_set1_epi16(static_cast<int16_t>(b)));
  return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), w);
}

void vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vx, const void *vy) {
  const kiln_block_q5_K *x = static_cast<const kiln_block_q5_K *>(vx);
  const kiln_block_q8_K *y = static_cast<const kiln_block_q8_K *>(vy);
  const __m512i m4 = _mm512_set1_epi8(0xf), one = _mm512_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float acc_min = 0;
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    prefetch_ahead(&x[i], sizeof(kiln_block_q5_K));
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
    // lanes k and k + 8 together: the products of values 4k..4k+3 of every 32, llama.cpp's x86
    // vec_dot_q5_K lanes, then its eight float sums
    const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dy * kiln_fp16(x[i].d)), _mm256_cvtepi32_ps(s8), acc);
    // one FMA, as llama.cpp's build contracts its `summs += dmin * sum`
    acc_min = fmaf(dy * kiln_fp16(x[i].dmin), static_cast<float>(sum_mn), acc_min);
  }
  *s = hsum_f32(acc) - acc_min;
}

} // namespace

extern "C" void kiln_x86_avx512_register(kiln_kernel_table *t) {
  t->vec_dot[KILN_TYPE_Q4_K] = Tiles<Q4K, 4>::dot;
  t->vec_dot_tile[KILN_TYPE_Q4_K] = Tiles<Q4K, 4>::tile;
  t->vec_dot[KILN_TYPE_Q6_K] = Tiles<Q6K, 2>::dot;
  // Token generation reads 4 rows per step where prefetches go to L2 at whole
  // tiles ahead (prefetch_distance): on Zen 4, one thread, cold weights, Q4_K
  // 4096 x 4096 rose from 76% of the read bandwidth (2 rows) to 84%, Q6_K from
  // 100% to 115% of a noisy read figure. Into L1 at a fixed distance, 4 rows
  // put the prefetches inside the tile being read, so 2 stay there.
  // (Q4_K's kernel reads 4 rows per step everywhere: its float sums keep one lane per row, as llama.cpp's gemv)
  if (kiln_prefetch_l2)
    t->vec_dot_tile[KILN_TYPE_Q6_K] = Tiles<Q6K, 2, KILN_TILE_COLS, 4>::tile;
  else
    t->vec_dot_tile[KILN_TYPE_Q6_K] = Tiles<Q6K, 2>::tile;
  t->vec_dot[KILN_TYPE_Q8_0] = Tiles<Q80, 4>::dot;
  t->vec_dot_tile[KILN_TYPE_Q8_0] = Tiles<Q80, 4>::tile;
  t->vec_dot[KILN_TYPE_Q4_0] = Tiles<Q40, 4>::dot;
  t->vec_dot_tile[KILN_TYPE_Q4_0] = Tiles<Q40, 4>::tile;
  t->vec_dot[KILN_TYPE_Q5_0] = Tiles<Q50, 4>::dot;
  t->vec_dot_tile[KILN_TYPE_Q5_0] = Tiles<Q50, 4>::tile;
  t->vec_dot[KILN_TYPE_Q5_K] = vec_dot_q5_K_q8_K;
  t->vec_dot_tile[KILN_TYPE_Q5_K] = nullptr; // the AVX2 tile would not match this vec_dot bit for bit
}
