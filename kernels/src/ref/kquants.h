// Reference kernels of the 256-value super-block formats.
#pragma once
#include <stdint.h>

void kiln_dequantize_row_q2_K(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q3_K(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q4_K(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q5_K(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q6_K(const void *src, float *dst, int64_t n);
void kiln_dequantize_row_q8_K(const void *src, float *dst, int64_t n);

void kiln_quantize_row_q2_K_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q3_K_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q4_K_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q5_K_ref(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q6_K_ref(const float *src, void *dst, int64_t n);
// The same with an importance per value of the row (imp: n values, nullable):
// the _ref quantizers are these with imp == nullptr.
void kiln_quantize_row_q2_K_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_q3_K_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_q4_K_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_q5_K_w(const float *src, void *dst, int64_t n, const float *imp);
void kiln_quantize_row_q6_K_w(const float *src, void *dst, int64_t n, const float *imp);
// Activation quantizer: round-to-nearest on amax / 127 (f32 scale), plus the
// 16-value block sums the offset formats' dot products need. SIMD variants
// reproduce it bit for bit.
void kiln_quantize_row_q8_K_ref(const float *src, void *dst, int64_t n);

// Weight rows against Q8_K activations: integer sums per sub-block, scaled once per super-block.
void kiln_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *x, const void *y);
void kiln_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *x, const void *y);
