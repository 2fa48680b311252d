// A KV cache kept in a block format (Q8_0 or Q4_0, 32 values a block along
// the row) and attention that reads it directly, as llama.cpp's CPU flash
// attention does with a quantized cache (ggml's one-chunk path, the only one
// it runs for quantized K or V):
// - q is converted once to K's dot type (Q8_0 for a quantized K, binary16 for
//   an f16 K) and each score is that type's dot product with the cached row;
// - an f16 V is summed in binary16 (as KILN_KV_F16_ACC16), any other V is
//   converted to f32 row by row and summed in f32 with fused multiply-adds.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../variant.h"

#ifdef __cplusplus
extern "C" {
#endif

// Q4_0 the way llama.cpp writes its cache rows (quantize_row_q4_0_ref: round
// to nearest on max / -8, no search). kiln's weight quantizer searches its
// scales instead, so it cannot be reused here.
void kiln_quantize_row_q4_0_rtn(const float *src, void *dst, int64_t n);

// One query head over n_kv cached positions of one KV head: k and v point at
// position 0 of that head, rows k_stride and v_stride bytes apart, of types
// k_type (F16, Q8_0, Q4_0) and v_type (F16, Q8_0, Q4_0). kt supplies the dot
// products and conversions of the variant. scale and softcap as for
// kiln_attn_ref. scratch holds kiln_attn_quant_scratch(n_kv, head_dim) floats.
void kiln_attn_quant_ref(const kiln_kernel_table *kt, const float *q, const void *k, int k_type, size_t k_stride,
                         const void *v, int v_type, size_t v_stride, int32_t n_kv, int32_t head_dim, float scale,
                         float softcap, float *scratch, float *out);

static inline size_t kiln_attn_quant_scratch(int32_t n_kv, int32_t head_dim) { return 2 * (size_t)n_kv + 4 * (size_t)head_dim + 16; }

#ifdef __cplusplus
}
#endif
