// Row operations over the dispatch tables, for the binding and the forward pass.
#pragma once
#include <stdint.h>

#include "variant.h"

#ifdef __cplusplus
extern "C" {
#endif

// Returns 0, or -1 when the type has no vec_dot or the variant is not supported.
// Activations are quantized to the type's vec_dot_type with the variant's own
// quantizer (bit-identical to the reference one).
int kiln_vec_dot_f32(kiln_variant v, int type, const void *row, const float *act, int64_t n, float *out);

// out[r] = dot(row r of w, x) for r < rows; x has cols values. Rows are split
// over the thread pool (pool.h); each row's result does not depend on it.
int kiln_matvec(kiln_variant v, int type, const void *w, int64_t rows, int64_t cols, const float *x, float *out);

// Reference-quantizes rows of cols values (rows in parallel on the pool;
// output identical to a serial run). Returns -1 for an unknown type.
int kiln_quantize_rows(int type, const float *src, int64_t rows, int64_t cols, void *dst);

#ifdef __cplusplus
}
#endif
