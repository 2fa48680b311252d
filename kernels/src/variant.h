// Run-time choice among kernel variants with identical signatures: the scalar
// reference in ref/, and per-ISA versions in x86/ that override some entries.
#pragma once
#include "cpu.h"
#include "quants.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_variant {
  KILN_VARIANT_SCALAR = 0,
  KILN_VARIANT_AVX2 = 1,
  KILN_VARIANT_AVX512 = 2,
  KILN_VARIANT_COUNT = 3
} kiln_variant;

// Largest tile a vec_dot_tile kernel is asked for: rows of weights by rows of
// activations (tokens).
#define KILN_TILE_ROWS 4
#define KILN_TILE_COLS 4

// s[c * ldc + r] = dot(weight row r, activation row c) for r < nr, c < nc
// (1 <= nr <= KILN_TILE_ROWS, 1 <= nc <= KILN_TILE_COLS); weight rows are bx
// bytes apart, activation rows by. Each result is bit-identical to the same
// variant's vec_dot of that pair: a tile shares loads and unpacking between
// the dots, never their arithmetic, so results do not depend on the tiling.
typedef void (*kiln_vec_dot_tile_fn)(int64_t n, float *s, size_t ldc, const void *x, size_t bx, int nr, const void *y,
                                     size_t by, int nc);

// Prompt-batch kernels (optional, per weight type): the activations of up to
// KILN_GEMM_TOKENS tokens (rows `by` bytes apart, already in the type's
// vec_dot_type) are repacked once by gemm_pack into gemm_size(n) bytes, then
// gemm computes s[t * ldy + r] for nr weight rows (bx bytes apart) and the nt
// packed tokens. Results agree with vec_dot within float rounding (their
// summation order differs) and do not depend on how rows or tokens are split.
#define KILN_GEMM_TOKENS 16
typedef size_t (*kiln_gemm_size_fn)(int64_t n);
typedef void (*kiln_gemm_pack_fn)(int64_t n, const void *y, size_t by, int nt, void *dst);
typedef void (*kiln_gemm_fn)(int64_t n, float *s, size_t ldy, const void *x, size_t bx, int nr, const void *packed, int nt);

// The llama layer's other ops; signatures and meaning in ref/llama_ops.h.
typedef void (*kiln_attn_fn)(const float *q, const void *k, const void *v, size_t stride, int32_t n_kv, int32_t head_dim,
                             float scale, float softcap, int kv_f16, float *scratch, float *out);
typedef void (*kiln_attn_batch_fn)(const float *const *q, float *const *out, const int32_t *kv0, const int32_t *n_kv, int nq,
                                   const void *k, const void *v, size_t stride, int32_t head_dim, float scale, float softcap,
                                   int kv_f16, float *scratch);
// Attention over a cache whose K or V is in a block format (ref/kv_quant.h); kt is the variant's own table.
struct kiln_kernel_table;
typedef void (*kiln_attn_quant_fn)(const struct kiln_kernel_table *kt, const float *q, const void *k, int k_type,
                                   size_t k_stride, const void *v, int v_type, size_t v_stride, int32_t n_kv,
                                   int32_t head_dim, float scale, float softcap, float *scratch, float *out);
typedef void (*kiln_silu_mul_fn)(const float *g, const float *u, float *out, int64_t n);
typedef void (*kiln_rmsnorm_fn)(const float *x, const float *w, float eps, int64_t n, float *out);

// One variant's kernels. NULL entries mean "use the reference" (vec_dot,
// from_float, the llama ops) or "loop over vec_dot" (vec_dot_tile).
typedef struct kiln_kernel_table {
  kiln_vec_dot_fn vec_dot[KILN_TYPE_COUNT];
  kiln_from_float_fn from_float[KILN_TYPE_COUNT]; // activation quantizers (must match the ref bit for bit)
  kiln_vec_dot_tile_fn vec_dot_tile[KILN_TYPE_COUNT];
  kiln_gemm_fn gemm[KILN_TYPE_COUNT]; // with gemm_pack and gemm_size; all NULL or all set
  kiln_gemm_pack_fn gemm_pack[KILN_TYPE_COUNT];
  kiln_gemm_size_fn gemm_size[KILN_TYPE_COUNT];
  kiln_attn_fn attn;
  kiln_attn_batch_fn attn_batch;
  kiln_silu_mul_fn silu_mul;
  kiln_rmsnorm_fn rmsnorm;
  kiln_attn_quant_fn attn_quant;
} kiln_kernel_table;

// Whether the SIMD kernels prefetch weights into L2 rather than L1 (set
// once, before any table is handed out, from the CPU vendor: see
// prefetch_ahead in x86/avx2_util.h).
extern int kiln_prefetch_l2;

const char *kiln_variant_name(kiln_variant v);
// Whether this build contains the variant and this CPU/OS can run it.
int kiln_variant_supported(kiln_variant v);
kiln_variant kiln_best_variant(void);

// Effective kernels of a variant (reference entries filled in); NULL if unsupported.
const kiln_kernel_table *kiln_kernels_for(kiln_variant v);

// Implemented in x86/*.cpp (compiled with ISA flags); they only fill in entries.
void kiln_x86_avx2_register(kiln_kernel_table *t);
void kiln_x86_avx2_ops_register(kiln_kernel_table *t, int wide);
void kiln_x86_avx512_register(kiln_kernel_table *t);
void kiln_x86_avx512_gemm_register(kiln_kernel_table *t);
// IQ / TQ / MXFP4 dot products (x86/avx2_iq.cpp, x86/avx512_iq.cpp).
void kiln_x86_avx2_iq_register(kiln_kernel_table *t);
void kiln_x86_avx512_iq_register(kiln_kernel_table *t);

#ifdef __cplusplus
}
#endif
