// GGUF/ggml tensor types and the per-type dispatch table. Type ids and block
// layouts are the on-disk format (DESIGN.md section 4); the code is ours.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_type {
  KILN_TYPE_F32 = 0,
  KILN_TYPE_F16 = 1,
  KILN_TYPE_Q4_0 = 2,
  KILN_TYPE_Q4_1 = 3,
  KILN_TYPE_Q5_0 = 6,
  KILN_TYPE_Q5_1 = 7,
  KILN_TYPE_Q8_0 = 8,
  KILN_TYPE_Q8_1 = 9,
  KILN_TYPE_Q2_K = 10,
  KILN_TYPE_Q3_K = 11,
  KILN_TYPE_Q4_K = 12,
  KILN_TYPE_Q5_K = 13,
  KILN_TYPE_Q6_K = 14,
  KILN_TYPE_Q8_K = 15,
  KILN_TYPE_IQ2_XXS = 16,
  KILN_TYPE_IQ2_XS = 17,
  KILN_TYPE_IQ3_XXS = 18,
  KILN_TYPE_IQ1_S = 19,
  KILN_TYPE_IQ4_NL = 20,
  KILN_TYPE_IQ3_S = 21,
  KILN_TYPE_IQ2_S = 22,
  KILN_TYPE_IQ4_XS = 23,
  KILN_TYPE_IQ1_M = 29,
  KILN_TYPE_BF16 = 30,
  KILN_TYPE_TQ1_0 = 34,
  KILN_TYPE_TQ2_0 = 35,
  KILN_TYPE_MXFP4 = 39,
  KILN_TYPE_COUNT = 40 // size of tables indexed by type id
} kiln_type;

// n is always a multiple of the type's block size.
typedef void (*kiln_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*kiln_from_float_fn)(const float *src, void *dst, int64_t n);
// *s = dot(row x of the weight type, row y of its vec_dot_type), n values.
typedef void (*kiln_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

typedef struct kiln_type_traits {
  const char *name;
  int64_t block_size;      // values per block
  size_t type_size;        // bytes per block
  kiln_to_float_fn to_float;
  kiln_from_float_fn from_float_ref; // deterministic reference quantizer; NULL where kiln has none (IQ, TQ, MXFP4)
  kiln_vec_dot_fn vec_dot;           // reference dot product; NULL for activation-only types
  kiln_type vec_dot_type;            // what the other operand of vec_dot is quantized to
} kiln_type_traits;

// The reference (scalar) traits of a type, or NULL for an unknown id.
const kiln_type_traits *kiln_type_traits_of(int type);

// A quantizer that weights its error by an importance per value (imp: the n
// values of the row, nullable: then it is the type's from_float_ref).
typedef void (*kiln_weighted_fn)(const float *src, void *dst, int64_t n, const float *imp);

// The weighted quantizer of a type (the one for weight files), or NULL for the
// types that have none (the float types and the activation-only ones).
kiln_weighted_fn kiln_weighted_quantizer(int type);

// The plain (search-free) quantizer of a type (ref/kplain.h), or NULL for the
// types that have none: Q3_K and Q4_K only.
kiln_from_float_fn kiln_plain_quantizer(int type);

// Bytes needed for a row of n values (n a multiple of the block size).
size_t kiln_row_size(int type, int64_t n);

#ifdef __cplusplus
}
#endif
