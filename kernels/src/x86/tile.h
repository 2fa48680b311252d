// Dispatch from a run-time tile shape (nr weight rows x nc activation rows) to
// kernels templated on it, so that each shape gets its own fully unrolled
// loops with accumulators in registers. Include only from the per-ISA files;
// everything here has internal linkage (see avx2.cpp on why).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "variant.h"

namespace {

typedef void (*tile_fn)(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by);

// K<NR, NC>::run for NR <= MR, NC <= MC; larger requests are split into
// groups of MR rows and MC columns (MC bounds the accumulators a kernel keeps
// in registers: 16 on AVX2, 32 on AVX-512). A single activation row (token
// generation) goes in groups of MR1 rows instead: its kernels keep fewer
// accumulators, and more rows per step share each activation load.
template <template <int, int> class K, int MR, int MC = KILN_TILE_COLS, int MR1 = MR>
struct Tiles {
  template <int R, int C>
  static void one(int64_t n, float *s, size_t ldc, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) {
    K<R, C>::run(n, s, ldc, x, bx, y, by);
  }

  static tile_fn pick(int r, int c) {
    // shapes beyond MR x MC are never picked; they alias 1 x 1 to keep the table small
#define KILN_R(r) (MR >= r ? r : 1)
#define KILN_R1(r) (MR1 >= r || MR >= r ? r : 1)
#define KILN_C(c) (MC >= c ? c : 1)
    static const tile_fn table[4][4] = {
        {one<1, 1>, one<1, KILN_C(2)>, one<1, KILN_C(3)>, one<1, KILN_C(4)>},
        {one<KILN_R1(2), 1>, one<KILN_R(2), KILN_C(2)>, one<KILN_R(2), KILN_C(3)>, one<KILN_R(2), KILN_C(4)>},
        {one<KILN_R1(3), 1>, one<KILN_R(3), KILN_C(2)>, one<KILN_R(3), KILN_C(3)>, one<KILN_R(3), KILN_C(4)>},
        {one<KILN_R1(4), 1>, one<KILN_R(4), KILN_C(2)>, one<KILN_R(4), KILN_C(3)>, one<KILN_R(4), KILN_C(4)>},
    };
#undef KILN_R1
#undef KILN_R
#undef KILN_C
    return table[r - 1][c - 1];
  }

  static void tile(int64_t n, float *s, size_t ldc, const void *vx, size_t bx, int nr, const void *vy, size_t by, int nc) {
    static_assert(MR >= 1 && MR <= 4 && MR1 >= 1 && MR1 <= 4 && MC >= 1 && MC <= 4 && KILN_TILE_ROWS <= 4 && KILN_TILE_COLS <= 4,
                  "tile table is 4 x 4");
    const uint8_t *x = static_cast<const uint8_t *>(vx), *y = static_cast<const uint8_t *>(vy);
    const int mr = nc == 1 ? MR1 : MR;
    for (int c = 0; c < nc; c += MC) {
      const int cc = nc - c < MC ? nc - c : MC;
      for (int r = 0; r < nr; r += mr) {
        const int rr = nr - r < mr ? nr - r : mr;
        pick(rr, cc)(n, s + (size_t)c * ldc + r, ldc, x + (size_t)r * bx, bx, y + (size_t)c * by, by);
      }
    }
  }

  static void dot(int64_t n, float *s, const void *x, const void *y) {
    K<1, 1>::run(n, s, 0, static_cast<const uint8_t *>(x), 0, static_cast<const uint8_t *>(y), 0);
  }
};

} // namespace
