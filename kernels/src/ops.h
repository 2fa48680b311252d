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

// out[r] = dot(row r of w, x) for r < rows; x has cols values.
int kiln_matvec(kiln_variant v, int type, const void *w, int64_t rows, int64_t cols, const float *x, float *out);

#ifdef __cplusplus
}
#endif
