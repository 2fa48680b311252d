// Where value e of a K super-block keeps its bits (see blocks.h), read and write.
#pragma once
#include <stdint.h>

// Q2_K / low bits of Q3_K: bits 2s of qs[32h + l], e = 128h + 32s + l.
static inline int kiln_q2k_code(const uint8_t *qs, int e) { return (qs[32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3; }
static inline void kiln_q2k_set(uint8_t *qs, int e, int q) {
  qs[32 * (e >> 7) + (e & 31)] |= static_cast<uint8_t>((q & 3) << (2 * ((e >> 5) & 3)));
}

// The fifth bit of Q5_K and the third of Q3_K: bit e / 32 of hbits[e % 32].
static inline int kiln_khigh_bit(const uint8_t *hb, int e) { return (hb[e & 31] >> (e >> 5)) & 1; }
static inline void kiln_khigh_set(uint8_t *hb, int e, int bit) { hb[e & 31] |= static_cast<uint8_t>((bit & 1) << (e >> 5)); }

// Q3_K: stored 3-bit u = q + 4; value q in -4..3.
static inline int kiln_q3k_code(const uint8_t *qs, const uint8_t *hmask, int e) {
  return kiln_q2k_code(qs, e) + 4 * kiln_khigh_bit(hmask, e) - 4;
}
static inline void kiln_q3k_set(uint8_t *qs, uint8_t *hmask, int e, int q) {
  kiln_q2k_set(qs, e, (q + 4) & 3);
  kiln_khigh_set(hmask, e, (q + 4) >> 2);
}

// Q4_K / low bits of Q5_K: nibble n of qs[32c + l], e = 64c + 32n + l.
static inline int kiln_q4k_code(const uint8_t *qs, int e) { return (qs[32 * (e >> 6) + (e & 31)] >> (4 * ((e >> 5) & 1))) & 0xf; }
static inline void kiln_q4k_set(uint8_t *qs, int e, int q) {
  qs[32 * (e >> 6) + (e & 31)] |= static_cast<uint8_t>((q & 0xf) << (4 * ((e >> 5) & 1)));
}

static inline int kiln_q5k_code(const uint8_t *qs, const uint8_t *qh, int e) {
  return kiln_q4k_code(qs, e) | (kiln_khigh_bit(qh, e) << 4);
}
static inline void kiln_q5k_set(uint8_t *qs, uint8_t *qh, int e, int q) {
  kiln_q4k_set(qs, e, q & 0xf);
  kiln_khigh_set(qh, e, q >> 4);
}

// Q6_K: e = 128h + r; low nibble r / 64 of ql[64h + r % 64], top bits 2(r / 32)
// of qh[32h + r % 32]; value q - 32.
static inline int kiln_q6k_code(const uint8_t *ql, const uint8_t *qh, int e) {
  const int h = e >> 7, r = e & 127;
  const int lo = (ql[64 * h + (r & 63)] >> (4 * (r >> 6))) & 0xf;
  const int hi = (qh[32 * h + (r & 31)] >> (2 * (r >> 5))) & 3;
  return (lo | (hi << 4)) - 32;
}
static inline void kiln_q6k_set(uint8_t *ql, uint8_t *qh, int e, int q) {
  const int h = e >> 7, r = e & 127, u = q + 32;
  ql[64 * h + (r & 63)] |= static_cast<uint8_t>((u & 0xf) << (4 * (r >> 6)));
  qh[32 * h + (r & 31)] |= static_cast<uint8_t>(((u >> 4) & 3) << (2 * (r >> 5)));
}
