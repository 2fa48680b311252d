// Plain Q3_K / Q4_K quantizers (kplain.cpp): each sub-block's scale (and min)
// fitted with weights from its own values, the super-block scale putting the
// largest on the top code, every code then rounded to nearest; no search over
// the stored codes. This is the algorithm llama.cpp's quantizer applies to
// these types without an importance matrix. kiln uses it where the weighted
// search (kfit.h) measured worse in KL divergence: without an imatrix, the
// token embedding table and attn_q/attn_k/ffn_gate/ffn_up (the policy is
// engine/quantize/quantize.ts usePlain).
#pragma once
#include <stdint.h>

void kiln_quantize_row_q3_K_plain(const float *src, void *dst, int64_t n);
void kiln_quantize_row_q4_K_plain(const float *src, void *dst, int64_t n);
