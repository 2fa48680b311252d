// Unquantized formats: F32, F16 (IEEE binary16), BF16. Their dot products take
// F32 activations.
#pragma once
#include <stdint.h>

void kiln_to_float_f32(const void *src, float *dst, int64_t n);
void kiln_from_float_f32(const float *src, void *dst, int64_t n);
void kiln_to_float_f16(const void *src, float *dst, int64_t n);
void kiln_from_float_f16(const float *src, void *dst, int64_t n);
void kiln_to_float_bf16(const void *src, float *dst, int64_t n);
void kiln_from_float_bf16(const float *src, void *dst, int64_t n);

void kiln_vec_dot_f32_f32(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_f16_f32(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_bf16_f32(int64_t n, float *s, const void *x, const void *y);
