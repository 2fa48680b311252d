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

// One variant's kernels. NULL entries mean "use the reference" (vec_dot,
// from_float) or "loop over vec_dot" (vec_dot_tile).
typedef struct kiln_kernel_table {
  kiln_vec_dot_fn vec_dot[KILN_TYPE_COUNT];
  kiln_from_float_fn from_float[KILN_TYPE_COUNT]; // activation quantizers (must match the ref bit for bit)
  kiln_vec_dot_tile_fn vec_dot_tile[KILN_TYPE_COUNT];
} kiln_kernel_table;

const char *kiln_variant_name(kiln_variant v);
// Whether this build contains the variant and this CPU/OS can run it.
int kiln_variant_supported(kiln_variant v);
kiln_variant kiln_best_variant(void);

// Effective kernels of a variant (reference entries filled in); NULL if unsupported.
const kiln_kernel_table *kiln_kernels_for(kiln_variant v);

// Implemented in x86/*.cpp (compiled with ISA flags); they only fill in entries.
void kiln_x86_avx2_register(kiln_kernel_table *t);
void kiln_x86_avx512_register(kiln_kernel_table *t);

#ifdef __cplusplus
}
#endif
