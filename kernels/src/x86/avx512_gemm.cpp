// AVX-512 VNNI kernels for prompt batches of the K formats (Q4_K, Q6_K).
//
// The dot kernels (avx512.cpp) put one dot product's values across the lanes
// of a register; with many tokens that needs a horizontal reduction per dot
// and two multiply instructions per 64 products. Here every 32-bit lane is a
// different token instead: activations of 16 tokens are repacked once per
// matrix so that one 64-byte row holds the same four values of each token,
// and four weight codes, broadcast to all lanes, meet them in one VPDPBUSD
// (64 products). Each lane then holds a whole sub-block sum for its token,
// scaled by the sub-block scale (VPMULLD) and then, per super-block, by the
// float scales, so nothing is reduced across lanes.
//
// The results are exact integer sums scaled and accumulated in value order
// (Q4_K: every 64 values, as llama.cpp's gemm over its repacked Q4_K does, so
// that a batch's whole groups of 4 tokens come out bit for bit as there; Q6_K:
// per super-block in eight sums, as its vec_dot), so they differ from vec_dot by float rounding only; the
// kernel tests hold both to the reference. Linkage rule of avx2.cpp:
// everything here is internal.
#include <immintrin.h>
#include <string.h>

#include "avx2_util.h"
#include "float_gemm.h"
#include "ref/blocks.h"
#include "variant.h"

using kiln_avx2::prefetch_ahead_l1;
using kiln_avx2::prefetch_ahead; // small batches (token generation for a few sequences) read like a matvec

namespace {

// Q8_K activations of KILN_GEMM_TOKENS tokens, one super-block: lane t of
// every 64-byte row is token t. Tokens past the batch's end are zeros.
struct Q8KX16 {
  int8_t qs[64][KILN_GEMM_TOKENS][4]; // values 4g..4g+3 of each token
  float d[KILN_GEMM_TOKENS];
  int16_t bs16[8][KILN_GEMM_TOKENS][2]; // sums of 16-value sub-blocks 2p, 2p + 1
  int16_t bs32[4][KILN_GEMM_TOKENS][2]; // sums of 32-value sub-blocks 2p, 2p + 1
};
static_assert(sizeof(Q8KX16) % 64 == 0, "rows stay 64-byte aligned");

size_t q8k_x16_size(int64_t n) { return (size_t)(n / KILN_QK_K) * sizeof(Q8KX16); }

void q8k_x16_pack(int64_t n, const void *vy, size_t by, int nt, void *dst) {
  Q8KX16 *o = static_cast<Q8KX16 *>(dst);
  const uint8_t *y = static_cast<const uint8_t *>(vy);
  for (int64_t i = 0; i < n / KILN_QK_K; i++, o++) {
    memset(o, 0, sizeof *o);
    for (int t = 0; t < nt; t++) {
      const kiln_block_q8_K *b = reinterpret_cast<const kiln_block_q8_K *>(y + t * by) + i;
      for (int g = 0; g < 64; g++) memcpy(o->qs[g][t], b->qs + 4 * g, 4);
      memcpy(&o->d[t], &b->d, 4);
      for (int p = 0; p < 8; p++) {
        o->bs16[p][t][0] = b->bsums[2 * p];
        o->bs16[p][t][1] = b->bsums[2 * p + 1];
      }
      for (int p = 0; p < 4; p++) {
        o->bs32[p][t][0] = (int16_t)(b->bsums[4 * p] + b->bsums[4 * p + 1]);
        o->bs32[p][t][1] = (int16_t)(b->bsums[4 * p + 2] + b->bsums[4 * p + 3]);
      }
    }
  }
}

inline __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

// Four codes (bytes) broadcast to every lane.
inline __m512i bcast4(const uint8_t *p) {
  int v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// Lane t of acc is token t: out[t * ld] for the batch's tokens.
inline void store_lanes(__m512 acc, float *out, size_t ld, int nt) {
  alignas(64) float tmp[KILN_GEMM_TOKENS];
  _mm512_store_ps(tmp, acc);
  for (int t = 0; t < nt; t++) out[t * ld] = tmp[t];
}

// Q4_K's eight 6-bit scales and mins (layout in ref/kpack.h), unpacked four at
// a time in 32-bit words.
inline void q4k_scales(const uint8_t *s, uint8_t *sc, uint8_t *mn) {
  uint32_t a, b, c;
  memcpy(&a, s, 4);
  memcpy(&b, s + 4, 4);
  memcpy(&c, s + 8, 4);
  const uint32_t w[4] = {a & 0x3f3f3f3fu, (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u), b & 0x3f3f3f3fu,
                         ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u)};
  memcpy(sc, w, 8);
  memcpy(mn, w + 2, 8);
}

template <int NR>
void q4k_gemm(int64_t n, float *s, size_t ldy, const uint8_t *x, size_t bx, const Q8KX16 *Y, int nt) {
  const __m256i m4 = _mm256_set1_epi8(0xf);
  __m512 acc[NR], accm[NR];
  for (int r = 0; r < NR; r++) acc[r] = accm[r] = _mm512_setzero_ps();
  alignas(64) uint8_t codes[NR][KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const Q8KX16 &yb = Y[i];
    uint8_t sc[NR][8], mn[NR][8];
    float d[NR], dmin[NR];
    __m512i S[NR], M[NR];
    for (int r = 0; r < NR; r++) {
      const kiln_block_q4_K *xb = reinterpret_cast<const kiln_block_q4_K *>(x + r * bx) + i;
      prefetch_ahead_l1(xb, sizeof(kiln_block_q4_K));
      q4k_scales(xb->scales, sc[r], mn[r]);
      d[r] = f16(xb->d);
      dmin[r] = f16(xb->dmin);
      // codes in value order: chunk c's low nibbles are values 64c.., its high ones 64c + 32..
      for (int c = 0; c < 4; c++) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(xb->qs + 32 * c));
        _mm256_store_si256(reinterpret_cast<__m256i *>(codes[r] + 64 * c), _mm256_and_si256(q, m4));
        _mm256_store_si256(reinterpret_cast<__m256i *>(codes[r] + 64 * c + 32), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
      }
    }
    const __m512 dy = _mm512_loadu_ps(yb.d);
    __m512 ds[NR], dm[NR];
    for (int r = 0; r < NR; r++) {
      ds[r] = _mm512_mul_ps(_mm512_set1_ps(d[r]), dy);
      dm[r] = _mm512_mul_ps(_mm512_set1_ps(dmin[r]), dy);
    }
    // llama.cpp's gemm over its repacked Q4_K (the tokens of a batch in whole groups of 4) scales
    // and accumulates every 64 values (sub-blocks 2p, 2p + 1), the mins in an accumulator of their own
    for (int p = 0; p < 4; p++) {
      for (int r = 0; r < NR; r++) S[r] = _mm512_setzero_si512();
      for (int j = 2 * p; j < 2 * p + 2; j++) {
        __m512i a[NR];
        for (int r = 0; r < NR; r++) a[r] = _mm512_setzero_si512();
        for (int g = 0; g < 8; g++) {
          const __m512i yv = load512(yb.qs[8 * j + g]);
          for (int r = 0; r < NR; r++) a[r] = _mm512_dpbusd_epi32(a[r], bcast4(codes[r] + 32 * j + 4 * g), yv);
        }
        for (int r = 0; r < NR; r++) S[r] = _mm512_add_epi32(S[r], _mm512_mullo_epi32(a[r], _mm512_set1_epi32(sc[r][j])));
      }
      const __m512i bs = load512(yb.bs32[p]);
      for (int r = 0; r < NR; r++) {
        // the min term: mn_2p * (activation sum of sub-block 2p) + mn_2p+1 * (that of 2p + 1)
        M[r] = _mm512_dpwssd_epi32(_mm512_setzero_si512(), bs, _mm512_set1_epi32(mn[r][2 * p] | mn[r][2 * p + 1] << 16));
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S[r]), ds[r], acc[r]);
        accm[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(M[r]), dm[r], accm[r]);
      }
    }
  }
  for (int r = 0; r < NR; r++) store_lanes(_mm512_sub_ps(acc[r], accm[r]), s + r, ldy, nt);
}

// Q4_K for small batches (a decode step of a few sequences): the kernel
// above spends a VPDPBUSD on 16 token lanes, so with 4 tokens three quarters
// of its work is on empty lanes. Here the 16 lanes are 4 weight rows x 4
// tokens (lane 4r + t): 128-bit lane r of a register holds 16 bytes of row
// r's codes (4 groups of 4 values), VPSHUFD broadcasts one group across the
// lane, and the 4 tokens' activations of that group are one 16-byte row of
// the packed block (its first 16 bytes are tokens 0-3, the next 16 tokens
// 4-7, ...) broadcast to all four lanes. Every lane computes the same exact
// integer sub-block sums as q4k_gemm and then the same float operations in
// the same order (per 64 values: S * (d * dy) into acc, M * (dmin * dy) into
// accm; acc - accm at the end), so each result is bit for bit q4k_gemm's.
// Tokens are taken 4 at a time (tq: which 4 of the block's 16), TQ fours in
// one pass so that each broadcast group of codes serves 4 x TQ tokens.
inline __m512i lanes4(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3) {
  __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i *>(r0)));
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i *>(r1)), 1);
  v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i *>(r2)), 2);
  return _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i *>(r3)), 3);
}

inline __m512i bcast16(const void *p) { return _mm512_broadcast_i32x4(_mm_loadu_si128(static_cast<const __m128i *>(p))); }

template <int TQ>
void q4k_gemm_quad(int64_t n, float *s, size_t ldy, const uint8_t *x, size_t bx, int nr, const Q8KX16 *Y, int tq, int nt) {
  const __m512i m4 = _mm512_set1_epi8(0xf);
  // row r of the quad (rows past nr repeat row 0; their lanes are never stored)
  const uint8_t *row[4];
  for (int r = 0; r < 4; r++) row[r] = x + (size_t)(r < nr ? r : 0) * bx;
  // byte j of a lane's 16 (scales 0-7, mins 8-15) into the low byte of each dword; mins in pairs into both halves
  __m512i pick_sc[8], pick_mn[4];
  for (int j = 0; j < 8; j++) pick_sc[j] = _mm512_set1_epi32((int)(0x80808000u | (uint32_t)j));
  for (int p = 0; p < 4; p++) pick_mn[p] = _mm512_set1_epi32((int)(0x80008000u | (uint32_t)(8 + 2 * p) | (uint32_t)(9 + 2 * p) << 16));
  const __m512i row_of_lane = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 acc[TQ], accm[TQ];
  for (int u = 0; u < TQ; u++) acc[u] = accm[u] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const Q8KX16 &yb = Y[i];
    const kiln_block_q4_K *xb[4];
    alignas(64) uint8_t scm[4][16];
    alignas(16) float d[4], dmin[4];
    for (int r = 0; r < 4; r++) {
      xb[r] = reinterpret_cast<const kiln_block_q4_K *>(row[r]) + i;
      if (r < nr) prefetch_ahead(xb[r], sizeof(kiln_block_q4_K));
      q4k_scales(xb[r]->scales, scm[r], scm[r] + 8);
      d[r] = f16(xb[r]->d);
      dmin[r] = f16(xb[r]->dmin);
    }
    const __m512i scv = _mm512_load_si512(scm);
    const __m512 dr = _mm512_permutexvar_ps(row_of_lane, _mm512_castps128_ps512(_mm_load_ps(d)));
    const __m512 dmr = _mm512_permutexvar_ps(row_of_lane, _mm512_castps128_ps512(_mm_load_ps(dmin)));
    __m512 ds[TQ], dm[TQ];
    for (int u = 0; u < TQ; u++) {
      const __m512 dy = _mm512_broadcast_f32x4(_mm_loadu_ps(yb.d + 4 * (tq + u)));
      ds[u] = _mm512_mul_ps(dr, dy);
      dm[u] = _mm512_mul_ps(dmr, dy);
    }
    for (int c = 0; c < 4; c++) { // 64 values: sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles)
      __m512i alo[TQ], ahi[TQ];
      for (int u = 0; u < TQ; u++) alo[u] = ahi[u] = _mm512_setzero_si512();
      for (int h = 0; h < 2; h++) {
        const int o = 32 * c + 16 * h;
        const __m512i q = lanes4(xb[0]->qs + o, xb[1]->qs + o, xb[2]->qs + o, xb[3]->qs + o);
        const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        // groups: low nibbles are values 64c + 16h + 4k.., high ones 64c + 32 + 16h + 4k..
        const int glo = 16 * c + 4 * h, ghi = 16 * c + 8 + 4 * h;
#define KILN_Q4K_QUAD_GROUP(k, sel)                                                                          \
  {                                                                                                          \
    const __m512i cl = _mm512_shuffle_epi32(lo, (_MM_PERM_ENUM)sel), ch = _mm512_shuffle_epi32(hi, (_MM_PERM_ENUM)sel); \
    for (int u = 0; u < TQ; u++) {                                                                           \
      alo[u] = _mm512_dpbusd_epi32(alo[u], cl, bcast16(yb.qs[glo + k][4 * (tq + u)]));                        \
      ahi[u] = _mm512_dpbusd_epi32(ahi[u], ch, bcast16(yb.qs[ghi + k][4 * (tq + u)]));                        \
    }                                                                                                        \
  }
        KILN_Q4K_QUAD_GROUP(0, 0x00)
        KILN_Q4K_QUAD_GROUP(1, 0x55)
        KILN_Q4K_QUAD_GROUP(2, 0xAA)
        KILN_Q4K_QUAD_GROUP(3, 0xFF)
#undef KILN_Q4K_QUAD_GROUP
      }
      const __m512i sl = _mm512_shuffle_epi8(scv, pick_sc[2 * c]), sh = _mm512_shuffle_epi8(scv, pick_sc[2 * c + 1]);
      const __m512i mp = _mm512_shuffle_epi8(scv, pick_mn[c]);
      for (int u = 0; u < TQ; u++) {
        const __m512i S = _mm512_add_epi32(_mm512_mullo_epi32(alo[u], sl), _mm512_mullo_epi32(ahi[u], sh));
        const __m512i M = _mm512_dpwssd_epi32(_mm512_setzero_si512(), bcast16(yb.bs32[c][4 * (tq + u)]), mp);
        acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), ds[u], acc[u]);
        accm[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(M), dm[u], accm[u]);
      }
    }
  }
  for (int u = 0; u < TQ && 4 * (tq + u) < nt; u++) {
    alignas(64) float out[16];
    _mm512_store_ps(out, _mm512_sub_ps(acc[u], accm[u]));
    const int t0 = 4 * (tq + u), nt4 = nt - t0 < 4 ? nt - t0 : 4;
    for (int r = 0; r < nr; r++)
      for (int t = 0; t < nt4; t++) s[(size_t)(t0 + t) * ldy + r] = out[4 * r + t];
  }
}

// Q6_K: value e = 128h + r has its low nibble in ql[64h + r % 64] (nibble
// r / 64) and its top two bits at bits 2(r / 32) of qh[32h + r % 32]; codes are
// biased by 32, taken out with the 16-value activation sums.
template <int NR>
void q6k_gemm(int64_t n, float *s, size_t ldy, const uint8_t *x, size_t bx, const Q8KX16 *Y, int nt) {
  const __m512i m4 = _mm512_set1_epi8(0xf), m30 = _mm512_set1_epi8(0x30);
  // llama.cpp's x86 vec_dot_q6_K (what it runs for every token of a batch: Q6_K is not repacked
  // there) keeps eight float sums, sum k over the values 4k..4k+3 of every 32: with the groups of
  // 4 values in Q8KX16's rows, group g goes to sum g % 8
  __m512 acc[NR][8];
  for (int r = 0; r < NR; r++)
    for (int k = 0; k < 8; k++) acc[r][k] = _mm512_setzero_ps();
  alignas(64) uint8_t codes[NR][KILN_QK_K];
  for (int64_t i = 0; i < n / KILN_QK_K; i++) {
    const Q8KX16 &yb = Y[i];
    const int8_t *sc[NR];
    float d[NR];
    for (int r = 0; r < NR; r++) {
      const kiln_block_q6_K *xb = reinterpret_cast<const kiln_block_q6_K *>(x + r * bx) + i;
      prefetch_ahead_l1(xb, sizeof(kiln_block_q6_K));
      sc[r] = xb->scales;
      d[r] = f16(xb->d);
      for (int h = 0; h < 2; h++) {
        const __m512i a = load512(xb->ql + 64 * h);
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(xb->qh + 32 * h));
        // bit pairs 0 / 1 land at bits 0-1 of the two halves, 2 / 3 at bits 4-5
        const __m512i qq = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        const __m512i lo = _mm512_ternarylogic_epi32(a, m4, _mm512_and_si512(_mm512_slli_epi16(qq, 4), m30), 0xEA);
        const __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(a, 4), m4, _mm512_and_si512(qq, m30), 0xEA);
        _mm512_store_si512(codes[r] + 128 * h, lo);
        _mm512_store_si512(codes[r] + 128 * h + 64, hi);
      }
    }
    const __m512 dy = _mm512_loadu_ps(yb.d);
    __m512 dd[NR];
    for (int r = 0; r < NR; r++) dd[r] = _mm512_mul_ps(_mm512_set1_ps(d[r]), dy);
    for (int k = 0; k < 8; k++) {
      // sum k takes group k % 4 of the 16-value sub-blocks j = k / 4, k / 4 + 2, ..., 14 + k / 4:
      // per token, two 2-product sums (16 bits: 2 * 63 * 127 fits) weighed by sc_j in one VPDPWSSD
      const int gg = k % 4;
      __m512i S[NR];
      for (int r = 0; r < NR; r++) S[r] = _mm512_setzero_si512();
      for (int j = k / 4; j < 16; j += 2) {
        const __m512i yv = load512(yb.qs[4 * j + gg]);
        for (int r = 0; r < NR; r++) {
          const __m512i p = _mm512_maddubs_epi16(bcast4(codes[r] + 16 * j + 4 * gg), yv);
          S[r] = _mm512_dpwssd_epi32(S[r], p, _mm512_set1_epi16(sc[r][j]));
        }
      }
      // the bias of sum k: 32 * (sc_2k * (16-value sum 2k) + sc_2k+1 * (sum 2k + 1))
      const __m512i bs = load512(yb.bs16[k]);
      for (int r = 0; r < NR; r++) {
        const uint32_t w = (uint16_t)sc[r][2 * k] | (uint32_t)(uint16_t)sc[r][2 * k + 1] << 16;
        const __m512i B = _mm512_dpwssd_epi32(_mm512_setzero_si512(), bs, _mm512_set1_epi32((int)w));
        const __m512i t = _mm512_sub_epi32(S[r], _mm512_slli_epi32(B, 5));
        acc[r][k] = _mm512_fmadd_ps(dd[r], _mm512_cvtepi32_ps(t), acc[r][k]);
      }
    }
  }
  // the eight sums added as llama.cpp's hsum_float_8 adds them
  for (int r = 0; r < NR; r++) {
    const __m512 u0 = _mm512_add_ps(acc[r][0], acc[r][4]), u1 = _mm512_add_ps(acc[r][1], acc[r][5]);
    const __m512 u2 = _mm512_add_ps(acc[r][2], acc[r][6]), u3 = _mm512_add_ps(acc[r][3], acc[r][7]);
    store_lanes(_mm512_add_ps(_mm512_add_ps(u0, u2), _mm512_add_ps(u1, u3)), s + r, ldy, nt);
  }
}

typedef void (*rows_fn)(int64_t, float *, size_t, const uint8_t *, size_t, const Q8KX16 *, int);

template <rows_fn F1, rows_fn F2, rows_fn F3, rows_fn F4>
void gemm(int64_t n, float *s, size_t ldy, const void *vx, size_t bx, int nr, const void *packed, int nt) {
  const uint8_t *x = static_cast<const uint8_t *>(vx);
  const Q8KX16 *y = static_cast<const Q8KX16 *>(packed);
  for (int r = 0; r < nr; r += 4) {
    const int k = nr - r < 4 ? nr - r : 4;
    const rows_fn f = k == 4 ? F4 : k == 3 ? F3 : k == 2 ? F2 : F1;
    f(n, s + r, ldy, x + (size_t)r * bx, bx, y, nt);
  }
}

// Q4_K: blocks of up to Q4K_QUAD_MAX_TOKENS tokens take the 4 x 4 lane kernel (two fours of
// tokens in one pass from 5 tokens); fuller blocks the 16-lane one. Both give the same bits.
const int Q4K_QUAD_MAX_TOKENS = 8;

void q4k_gemm_any(int64_t n, float *s, size_t ldy, const void *vx, size_t bx, int nr, const void *packed, int nt) {
  if (nt > Q4K_QUAD_MAX_TOKENS) {
    gemm<q4k_gemm<1>, q4k_gemm<2>, q4k_gemm<3>, q4k_gemm<4>>(n, s, ldy, vx, bx, nr, packed, nt);
    return;
  }
  const uint8_t *x = static_cast<const uint8_t *>(vx);
  const Q8KX16 *y = static_cast<const Q8KX16 *>(packed);
  for (int r = 0; r < nr; r += 4) {
    const int k = nr - r < 4 ? nr - r : 4;
    if (nt > 4) q4k_gemm_quad<2>(n, s + r, ldy, x + (size_t)r * bx, bx, k, y, 0, nt);
    else q4k_gemm_quad<1>(n, s + r, ldy, x + (size_t)r * bx, bx, k, y, 0, nt);
  }
}

// Sixteen f32 lanes for the float gemm kernels (float_gemm.h).
struct Avx512Vec {
  typedef __m512 vec;
  static const int W = 16;
  static vec zero() { return _mm512_setzero_ps(); }
  static vec load_f32(const float *p) { return _mm512_loadu_ps(p); }
  static vec load_f16(const void *p) { return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i *>(p))); }
  static vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(vec v) { return _mm512_reduce_add_ps(v); }
};

} // namespace

extern "C" void kiln_x86_avx512_gemm_register(kiln_kernel_table *t) {
  t->gemm[KILN_TYPE_Q4_K] = q4k_gemm_any;
  t->gemm[KILN_TYPE_Q6_K] = gemm<q6k_gemm<1>, q6k_gemm<2>, q6k_gemm<3>, q6k_gemm<4>>;
  const int q8k_types[] = {KILN_TYPE_Q4_K, KILN_TYPE_Q6_K};
  for (int type : q8k_types) {
    t->gemm_pack[type] = q8k_x16_pack;
    t->gemm_size[type] = q8k_x16_size;
  }
  // 4 rows x 6 tokens: 24 accumulators, 6 tokens and a weight vector in the 32 registers
  float_gemm::register_float_gemm<Avx512Vec, 6>(t);
}
