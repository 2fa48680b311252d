// IEEE binary16 and bfloat16 conversions, written from the formats' definitions.
// Header-only so every variant (compiled with or without ISA flags) shares them.
#pragma once
#include <stdint.h>
#include <string.h>

static inline uint32_t kiln_f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static inline float kiln_bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
static inline float kiln_f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24, exact in binary32
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return kiln_bits_f32(sign | 0x7f800000u | (mant << 13)); // inf / nan
  return kiln_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

// Round to nearest, ties to even; overflow gives inf, NaN stays a (quiet) NaN.
static inline uint16_t kiln_f32_to_f16(float f) {
  const uint32_t x = kiln_f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;     // NaN
  if (ax >= 0x47800000u) return sign | 0x7c00u;    // >= 65536 (and inf): inf
  if (ax >= 0x38800000u) {                          // normal half (>= 2^-14)
    const uint32_t e = (ax >> 23) - 112u;           // rebias 127 -> 15
    uint32_t h = (e << 10) | ((ax >> 13) & 0x3ffu);
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; // carry may reach inf: correct
    return static_cast<uint16_t>(sign | h);
  }
  if (ax <= 0x33000000u) return sign;              // <= 2^-25 rounds to zero (tie to even)
  // subnormal half: value / 2^-24, rounded
  const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - (ax >> 23);         // 14..24
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (h & 1u))) h++;
  return static_cast<uint16_t>(sign | h);
}

// bfloat16 is the top half of a binary32.
static inline float kiln_bf16_to_f32(uint16_t b) { return kiln_bits_f32(static_cast<uint32_t>(b) << 16); }

static inline uint16_t kiln_f32_to_bf16(float f) {
  const uint32_t x = kiln_f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u); // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// The largest finite binary16; quantizers clamp scales to it so a huge input
// saturates instead of producing an inf scale (and NaN weights).
static const float KILN_F16_MAX = 65504.0f;
