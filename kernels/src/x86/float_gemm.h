// Prompt-batch (gemm) kernels for float weights, F16 and F32, against F32
// activations (their vec_dot_type), shared by the AVX2 and AVX-512 files:
// each includes this header with its own vector type (struct V below), so
// every instantiation is compiled for that file's ISA.
//
// Register blocking: a block of RM weight rows by RN tokens keeps RM * RN
// accumulators (one vector of partial sums per pair) in registers; each step
// of W values loads (and, for F16, converts) every weight row once and every
// token once and issues RM * RN FMAs, where vec_dot issues one FMA per two
// loads. Sums are reduced across lanes once, at the end of the row.
//
// Every pair's arithmetic is the same whatever the block shape (the blocks
// only share loads), so results do not depend on how rows or tokens are
// split; they differ from vec_dot (two accumulators, a scalar tail) by float
// rounding only. Linkage rule of avx2.cpp: everything here is internal.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ref/half.h"
#include "variant.h"

namespace {
namespace float_gemm {

// Packed activations: KILN_GEMM_TOKENS rows of floats, each padded with zeros
// to a multiple of 16 values (64 bytes), so a kernel's last step loads whole
// vectors; the weights' tail is zero-padded too, so the padding adds 0 * 0.
inline int64_t packed_stride(int64_t n) { return (n + 15) / 16 * 16; }

inline size_t packed_size(int64_t n) { return (size_t)KILN_GEMM_TOKENS * (size_t)packed_stride(n) * sizeof(float); }

inline void pack(int64_t n, const void *vy, size_t by, int nt, void *dst) {
  const uint8_t *y = static_cast<const uint8_t *>(vy);
  float *o = static_cast<float *>(dst);
  const int64_t stride = packed_stride(n);
  for (int t = 0; t < nt; t++, o += stride) {
    memcpy(o, y + (size_t)t * by, (size_t)n * sizeof(float));
    for (int64_t i = n; i < stride; i++) o[i] = 0.0f;
  }
}

// The same for an F16 matrix, the activations rounded to binary16 (llama.cpp
// converts them to F16 before its F16 matrix products).
inline void pack_f16(int64_t n, const void *vy, size_t by, int nt, void *dst) {
  pack(n, vy, by, nt, dst);
  float *o = static_cast<float *>(dst);
  const int64_t stride = packed_stride(n);
  for (int t = 0; t < nt; t++, o += stride)
    for (int64_t i = 0; i < n; i++) o[i] = kiln_f16_to_f32(kiln_f32_to_f16(o[i]));
}

// Weight loaders: W values of a row from p (whole), or the k < W values left
// at its end, zero-padded.
template <class V>
struct F16Weights {
  static const int BYTES = 2;
  static typename V::vec load(const uint8_t *p) { return V::load_f16(p); }
  static typename V::vec load_part(const uint8_t *p, int k) {
    alignas(64) uint16_t tmp[V::W] = {};
    memcpy(tmp, p, (size_t)k * 2);
    return V::load_f16(tmp);
  }
};

template <class V>
struct F32Weights {
  static const int BYTES = 4;
  static typename V::vec load(const uint8_t *p) { return V::load_f32(reinterpret_cast<const float *>(p)); }
  static typename V::vec load_part(const uint8_t *p, int k) {
    alignas(64) float tmp[V::W] = {};
    memcpy(tmp, p, (size_t)k * 4);
    return V::load_f32(tmp);
  }
};

// s[c * ldy + r] for RM rows (bx bytes apart) and RN packed tokens (stride floats apart).
template <class V, class WL, int RM, int RN>
void block(int64_t n, float *s, size_t ldy, const uint8_t *x, size_t bx, const float *y, int64_t stride) {
  typedef typename V::vec vec;
  vec acc[RM][RN];
  for (int r = 0; r < RM; r++)
    for (int c = 0; c < RN; c++) acc[r][c] = V::zero();
  const int64_t whole = n / V::W * V::W;
  int64_t i = 0;
  for (; i < whole; i += V::W) {
    vec a[RN];
    for (int c = 0; c < RN; c++) a[c] = V::load_f32(y + c * stride + i);
    for (int r = 0; r < RM; r++) {
      const vec w = WL::load(x + r * bx + i * WL::BYTES);
      for (int c = 0; c < RN; c++) acc[r][c] = V::fma(w, a[c], acc[r][c]);
    }
  }
  if (i < n) {
    vec a[RN];
    for (int c = 0; c < RN; c++) a[c] = V::load_f32(y + c * stride + i);
    for (int r = 0; r < RM; r++) {
      const vec w = WL::load_part(x + r * bx + i * WL::BYTES, (int)(n - i));
      for (int c = 0; c < RN; c++) acc[r][c] = V::fma(w, a[c], acc[r][c]);
    }
  }
  for (int r = 0; r < RM; r++)
    for (int c = 0; c < RN; c++) s[c * ldy + r] = V::hsum(acc[r][c]);
}

typedef void (*block_fn)(int64_t, float *, size_t, const uint8_t *, size_t, const float *, int64_t);

// The gemm entry: up to 4 rows by up to KILN_GEMM_TOKENS tokens, in blocks of
// at most 4 rows by MC tokens (MC <= 6).
template <class V, class WL, int MC>
struct Gemm {
  template <int R, int C>
  static void one(int64_t n, float *s, size_t ldy, const uint8_t *x, size_t bx, const float *y, int64_t stride) {
    block<V, WL, R, (C <= MC ? C : 1)>(n, s, ldy, x, bx, y, stride);
  }

  static block_fn pick(int r, int c) {
#define KILN_FG_ROW(R) {one<R, 1>, one<R, 2>, one<R, 3>, one<R, 4>, one<R, 5>, one<R, 6>}
    static const block_fn table[4][6] = {KILN_FG_ROW(1), KILN_FG_ROW(2), KILN_FG_ROW(3), KILN_FG_ROW(4)};
#undef KILN_FG_ROW
    return table[r - 1][c - 1];
  }

  static void run(int64_t n, float *s, size_t ldy, const void *vx, size_t bx, int nr, const void *packed, int nt) {
    static_assert(MC >= 1 && MC <= 6 && KILN_TILE_ROWS <= 4, "block table is 4 x 6");
    const uint8_t *x = static_cast<const uint8_t *>(vx);
    const float *y = static_cast<const float *>(packed);
    const int64_t stride = packed_stride(n);
    for (int c = 0; c < nt; c += MC) {
      const int cc = nt - c < MC ? nt - c : MC;
      for (int r = 0; r < nr; r += 4) {
        const int rr = nr - r < 4 ? nr - r : 4;
        pick(rr, cc)(n, s + (size_t)c * ldy + r, ldy, x + (size_t)r * bx, bx, y + c * stride, stride);
      }
    }
  }
};

// Fills in the gemm entries of F16 and F32 with the V kernels, MC tokens per block.
template <class V, int MC>
void register_float_gemm(kiln_kernel_table *t) {
  t->gemm[KILN_TYPE_F16] = Gemm<V, F16Weights<V>, MC>::run;
  t->gemm[KILN_TYPE_F32] = Gemm<V, F32Weights<V>, MC>::run;
  const int types[] = {KILN_TYPE_F16, KILN_TYPE_F32};
  for (int type : types) {
    t->gemm_pack[type] = type == KILN_TYPE_F16 ? pack_f16 : pack;
    t->gemm_size[type] = packed_size;
  }
}

} // namespace float_gemm
} // namespace
