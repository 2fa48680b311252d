// Row operations over the dispatch tables, for the binding and the forward pass.
#pragma once
#include <stddef.h>
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

// y[t * ldy + r] = dot(row r of w, activation row t) for r < rows, t < n, where
// act holds n activation rows act_bytes apart, already in the type's
// vec_dot_type (plain floats for float weights). Rows are split over the pool
// in chunks of whole tiles; every result is bit-identical to the table's
// vec_dot of that pair, whatever the tiling and thread count.
int kiln_matmul_q(const kiln_kernel_table *kt, int type, const void *w, int64_t rows, int64_t cols, const void *act,
                  size_t act_bytes, int32_t n, float *y, int64_t ldy);

// kiln_matmul_q with every token through the table's dot kernels (never a batch gemm): the
// experts of a mixture, which llama.cpp's MUL_MAT_ID multiplies one token at a time (its gemv
// over a repacked matrix, its vec_dot over any other).
int kiln_matmul_q_dots(const kiln_kernel_table *kt, int type, const void *w, int64_t rows, int64_t cols, const void *act,
                       size_t act_bytes, int32_t n, float *y, int64_t ldy);

// y[t * rows + r] = dot(row r of w, x[t]) for n float activation rows x[t]
// (cols values each), quantized once with the variant's quantizer.
int kiln_matmul(kiln_variant v, int type, const void *w, int64_t rows, int64_t cols, const float *x, int32_t n, float *y);

// Reference-quantizes rows of cols values (rows in parallel on the pool;
// output identical to a serial run). imp (nullable): the importance of each of
// the cols columns (an importance matrix entry), for the types whose
// quantizers weight their error (ref/weights.h). Returns -1 for an unknown type.
int kiln_quantize_rows(int type, const float *src, int64_t rows, int64_t cols, void *dst, const float *imp);
// The same with the type's plain quantizer (quants.h kiln_plain_quantizer);
// -1 for a type that has none.
int kiln_quantize_rows_plain(int type, const float *src, int64_t rows, int64_t cols, void *dst);

// Reads every byte of [p, p + bytes) on the pool and returns their 64-bit
// word sum (so the reads cannot be optimized away): the bandwidth ceiling.
uint64_t kiln_mem_read(const void *p, size_t bytes);

#ifdef __cplusplus
}
#endif
