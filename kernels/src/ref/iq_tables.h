// Constants of the GGUF IQ/MXFP4 formats. Every reader of these files must use
// exactly these values: they are part of the format, not of an implementation.
// The grids are generated (kernels/tools/gen_iq_tables.py decodes the compact
// form gguf-py keeps them in); the small tables are written out below.
#pragma once
#include <stdint.h>

// Lattice points: byte i of an entry is coordinate i (unsigned magnitudes,
// signs stored separately), except iq1s whose bytes are int8 -1, 0 or 1.
extern const uint64_t kiln_iq2xxs_grid[256];
extern const uint64_t kiln_iq2xs_grid[512];
extern const uint64_t kiln_iq2s_grid[1024];
extern const uint32_t kiln_iq3xxs_grid[256];
extern const uint32_t kiln_iq3s_grid[512];
extern const uint64_t kiln_iq1s_grid[2048];

// The 16 non-linear levels of IQ4_NL / IQ4_XS.
static const int8_t kiln_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// MXFP4's e2m1 code points, doubled so they are integers (the block scale is
// halved to match): 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives.
static const int8_t kiln_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// The 7-bit sign codes of IQ2_XXS / IQ2_XS / IQ3_XXS stand for 8 sign bits:
// the 7 stored ones plus an eighth that makes the count of minus signs even.
static inline uint8_t kiln_iq_signs8(uint32_t code7) {
  return static_cast<uint8_t>(code7 | ((__builtin_popcount(code7) & 1u) << 7));
}

// IQ1_S / IQ1_M shift every lattice point by +-1/8 (a sign bit per group).
#define KILN_IQ1_DELTA 0.125f

// MXFP4's E8M0 block exponent, as half the power of two (2^(e - 128)), to pair
// with the doubled code points above; e < 2 gives the subnormal halves.
static inline float kiln_e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}
