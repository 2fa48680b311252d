// Bit packing of the K formats' scales, shared by the reference and SIMD code.
#pragma once
#include <stdint.h>

// Q4_K / Q5_K: eight 6-bit scales sc and mins mn in 12 bytes. Bytes 0..3 hold
// sc[0..3] in their low 6 bits, bytes 4..7 mn[0..3]; for j = 4..7 the low
// nibbles of sc[j] / mn[j] are the low / high nibble of byte j + 4 and their
// top two bits sit in bits 6..7 of bytes j - 4 (sc) and j (mn).
static inline void kiln_q4k_scale_min(int j, const uint8_t *s, int *sc, int *mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

static inline void kiln_q4k_pack_scales(const uint8_t *sc, const uint8_t *mn, uint8_t *s) {
  for (int j = 0; j < 4; j++) {
    s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4));
  }
}

// Q3_K: sixteen 6-bit scales u (stored biased by 32). Byte j < 8: low nibble
// u[j] & 15, high nibble u[j + 8] & 15; bits 2k..2k+1 of byte 8 + i are the top
// two bits of u[i + 4k].
static inline int kiln_q3k_scale(int j, const uint8_t *s) {
  const int lo = j < 8 ? s[j] & 0xf : s[j - 8] >> 4;
  const int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
  return (lo | (hi << 4)) - 32;
}

static inline void kiln_q3k_pack_scales(const int *sc, uint8_t *s) {
  for (int b = 0; b < 12; b++) s[b] = 0;
  for (int j = 0; j < 16; j++) {
    const int u = sc[j] + 32;
    s[j & 7] |= static_cast<uint8_t>((u & 0xf) << (j < 8 ? 0 : 4));
    s[8 + (j & 3)] |= static_cast<uint8_t>(((u >> 4) & 3) << (2 * (j >> 2)));
  }
}
