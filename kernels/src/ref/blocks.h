// On-disk block layouts of the GGUF/ggml quant formats (little-endian, no
// padding). Scales are stored as raw binary16 bits. Sizes are asserted below
// because they are the file format.
#pragma once
#include <stdint.h>

#include "half.h"

#define KILN_QK 32   // values per block, legacy formats
#define KILN_QK_K 256 // values per super-block, K formats

// Q4_0: value = d * (q - 8); q is 4 bits. Byte j holds value j in its low
// nibble and value j + 16 in its high nibble.
struct kiln_block_q4_0 {
  uint16_t d;
  uint8_t qs[KILN_QK / 2];
};

// Q4_1: value = d * q + m.
struct kiln_block_q4_1 {
  uint16_t d, m;
  uint8_t qs[KILN_QK / 2];
};

// Q5_0: value = d * (q - 16); low 4 bits as in Q4_0, bit 4 of value j is bit j
// of the little-endian u32 qh (bytes, because the block is only 2-aligned).
struct kiln_block_q5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[KILN_QK / 2];
};

// Q5_1: value = d * q + m, bits as in Q5_0.
struct kiln_block_q5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[KILN_QK / 2];
};

// Q8_0: value = d * q.
struct kiln_block_q8_0 {
  uint16_t d;
  int8_t qs[KILN_QK];
};

// Q8_1 (activations): Q8_0 plus s = d * sum(q).
struct kiln_block_q8_1 {
  uint16_t d, s;
  int8_t qs[KILN_QK];
};

// Q2_K: 16 sub-blocks of 16. scales[j]: low nibble scale, high nibble min.
// value = d * sc * q - dmin * mn, q 2 bits. Value e = 128h + 32s + l (h < 2,
// s < 4, l < 32) is bits 2s..2s+1 of qs[32h + l].
struct kiln_block_q2_K {
  uint8_t scales[KILN_QK_K / 16];
  uint8_t qs[KILN_QK_K / 4];
  uint16_t d, dmin;
};

// Q3_K: 16 sub-blocks of 16, value = d * (sc - 32) * (q - 4), q 3 bits: the low
// two bits placed as in Q2_K, bit 2 of value e = 32b + l is bit b of hmask[l].
// The 16 6-bit sc: low nibbles in bytes 0..7 (sub-block j and j + 8 share byte
// j), top two bits of sub-block i + 4k at bits 2k of byte 8 + i.
struct kiln_block_q3_K {
  uint8_t hmask[KILN_QK_K / 8];
  uint8_t qs[KILN_QK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// Q4_K: 8 sub-blocks of 32, value = d * sc * q - dmin * mn, 6-bit sc and mn
// (packing in q4_k.cpp). Value e = 64c + 32n + l is nibble n of qs[32c + l].
struct kiln_block_q4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[KILN_QK_K / 2];
};

// Q5_K: Q4_K plus bit 4 of value e = 32b + l as bit b of qh[l].
struct kiln_block_q5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[KILN_QK_K / 8];
  uint8_t qs[KILN_QK_K / 2];
};

// Q6_K: 16 sub-blocks of 16, value = d * sc * (q - 32), sc int8, q 6 bits.
// Value e = 128h + r: low nibble is nibble r / 64 of ql[64h + r % 64], top two
// bits are bits 2(r / 32) of qh[32h + r % 32].
struct kiln_block_q6_K {
  uint8_t ql[KILN_QK_K / 2];
  uint8_t qh[KILN_QK_K / 4];
  int8_t scales[KILN_QK_K / 16];
  uint16_t d;
};

// Q8_K (activations only): value = d * q; bsums[j] = sum of q[16j .. 16j + 15].
struct kiln_block_q8_K {
  float d;
  int8_t qs[KILN_QK_K];
  int16_t bsums[KILN_QK_K / 16];
};

static_assert(sizeof(kiln_block_q4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(kiln_block_q4_1) == 20, "Q4_1 block is 20 bytes");
static_assert(sizeof(kiln_block_q5_0) == 22, "Q5_0 block is 22 bytes");
static_assert(sizeof(kiln_block_q5_1) == 24, "Q5_1 block is 24 bytes");
static_assert(sizeof(kiln_block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(kiln_block_q8_1) == 36, "Q8_1 block is 36 bytes");
static_assert(sizeof(kiln_block_q2_K) == 84, "Q2_K block is 84 bytes");
static_assert(sizeof(kiln_block_q3_K) == 110, "Q3_K block is 110 bytes");
static_assert(sizeof(kiln_block_q4_K) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(kiln_block_q5_K) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(kiln_block_q6_K) == 210, "Q6_K block is 210 bytes");
static_assert(sizeof(kiln_block_q8_K) == 292, "Q8_K block is 292 bytes");

// Round to nearest, ties to even (the default FP environment), the same rule
// the SIMD conversions use, so activation quantizers agree bit for bit.
// lrintf of NaN/inf yields an unspecified int; every caller clamps.
static inline int kiln_round(float x) {
  long r = __builtin_lrintf(x);
  if (r > 1 << 30) return 1 << 30;
  if (r < -(1 << 30)) return -(1 << 30);
  return static_cast<int>(r);
}

static inline int kiln_clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// The activation code of v: clamped to [-127, 127] in float first (NaN becomes
// -127, as the SIMD max/min instructions make it), then rounded. The activation
// quantizers of every variant use exactly this rule.
static inline int kiln_q8_code(float v) {
  v = v > -127.0f ? v : -127.0f;
  v = v < 127.0f ? v : 127.0f;
  return static_cast<int>(__builtin_lrintf(v));
}

static inline float kiln_fp16(uint16_t h) { return kiln_f16_to_f32(h); }
