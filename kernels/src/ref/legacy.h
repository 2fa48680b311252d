// Reference kernels of the 32-value block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1).
#pragma once
#include <stdint.h>

void kiln_dequantize_row_q4_0(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q4_1(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q5_0(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q5_1(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q8_0(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q8_1(const void *src, float *dst, int64_t n);

void kiln_quantize_row_q4_0_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q4_1_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q5_0_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q5_1_ref(const float *src, void *dst, int64_t n);
// The same with an importance per value of the row (imp: n values, nullable):
// the _ref quantizers are these with imp == nullptr.
void kiln_quantize_row_q4_0_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_q4_1_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_q5_0_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_q5_1_w(const float *src, void *dst, int64_t n, const float *imp);
// Q8_0 weights (not activations: kiln_quantize_row_q8_0_ref stays round-to-nearest).
void kiln_quantize_row_q8_0_w(const float *src, void *dst, int64_t n, const float *imp);
// Q8_0 and Q8_1 are also the activation formats: plain round-to-nearest on
// amax / 127, which SIMD variants reproduce bit for bit.
void kiln_quantize_row_q8_0_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q8_1_ref(const float *src, void *dst, int64_t n);

// Weights against Q8_0 activations; the offset formats Q4_1 and Q5_1 against Q8_1,
// whose binary16 s carries the min term, as llama.cpp multiplies them.
void kiln_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *x, const void *y);
