#include "floats.h"

#include <string.h>

#include "half.h"

// Halves are read with memcpy: a row view from JS may sit at an odd address.
static inline uint16_t load_u16(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return h;
}

void kiln_to_float_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, n * sizeof(float)); }
void kiln_from_float_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, n * sizeof(float)); }

void kiln_to_float_f16(const void *src, float *dst, int64_t n) {
  const uint8_t *p = static_cast<const uint8_t *>(src);
  for (int64_t i = 0; i < n; i++) dst[i] = kiln_f16_to_f32(load_u16(p + 2 * i));
}

void kiln_from_float_f16(const float *src, void *dst, int64_t n) {
  uint8_t *p = static_cast<uint8_t *>(dst);
  for (int64_t i = 0; i < n; i++) {
    const uint16_t h = kiln_f32_to_f16(src[i]);
    memcpy(p + 2 * i, &h, 2);
  }
}

void kiln_to_float_bf16(const void *src, float *dst, int64_t n) {
  const uint8_t *p = static_cast<const uint8_t *>(src);
  for (int64_t i = 0; i < n; i++) dst[i] = kiln_bf16_to_f32(load_u16(p + 2 * i));
}

void kiln_from_float_bf16(const float *src, void *dst, int64_t n) {
  uint8_t *p = static_cast<uint8_t *>(dst);
  for (int64_t i = 0; i < n; i++) {
    const uint16_t h = kiln_f32_to_bf16(src[i]);
    memcpy(p + 2 * i, &h, 2);
  }
}

// Float dots accumulate in double: the reference is the yardstick the SIMD
// variants are measured against, so it should carry no rounding of its own.
void kiln_vec_dot_f32_f32(int64_t n, float *s, const void *x, const void *y) {
  const float *a = static_cast<const float *>(x), *b = static_cast<const float *>(y);
  double acc = 0;
  for (int64_t i = 0; i < n; i++) acc += static_cast<double>(a[i]) * b[i];
  *s = static_cast<float>(acc);
}

void kiln_vec_dot_f16_f32(int64_t n, float *s, const void *x, const void *y) {
  const uint8_t *a = static_cast<const uint8_t *>(x);
  const float *b = static_cast<const float *>(y);
  double acc = 0;
  // the activations rounded to binary16 first, as llama.cpp converts them for an F16 matrix
  for (int64_t i = 0; i < n; i++)
    acc += static_cast<double>(kiln_f16_to_f32(load_u16(a + 2 * i))) * kiln_f16_to_f32(kiln_f32_to_f16(b[i]));
  *s = static_cast<float>(acc);
}

void kiln_vec_dot_bf16_f32(int64_t n, float *s, const void *x, const void *y) {
  const uint8_t *a = static_cast<const uint8_t *>(x);
  const float *b = static_cast<const float *>(y);
  double acc = 0;
  for (int64_t i = 0; i < n; i++) acc += static_cast<double>(kiln_bf16_to_f32(load_u16(a + 2 * i))) * b[i];
  *s = static_cast<float>(acc);
}
