// The device ops of the Vulkan backend, as the forward pass records them
// (record_*: into the current recording) and one at a time for the tests
// (kvk_test_*: upload, one submit, download).
#pragma once
#include <string>
#include <vector>

#include "vk.h"

namespace kvk {

bool type_supported(int ggml_type);

// Y[t * y_stride + y_off + r] (+)= W row r . X[t * x_stride ..] (+ bias[r]) for t < n.
struct MatmulArgs {
  int type;
  uint32_t rows, cols, n, x_stride, y_stride, y_off;
  bool accumulate;
};
bool record_matmul(Device *d, const MatmulArgs &a, Range w, Range x, Range y, const Range *bias, const Range &dummy,
                   std::string *why);
bool record_rmsnorm(Device *d, Range x, Range w, Range out, uint32_t dim, uint32_t rows, float eps, std::string *why);
bool record_rope(Device *d, Range v, Range cs, uint32_t n, uint32_t heads, uint32_t head_dim, uint32_t n_rot, bool neox,
                 uint32_t stride, std::string *why);
// tok: per token (position, first cache row of its sequence) as two uint32s.
bool record_kv_store(Device *d, Range k, Range v, Range kc, Range vc, Range tok, uint32_t n, uint32_t kvdim,
                     std::string *why);
bool record_attn(Device *d, Range q, Range kc, Range vc, Range out, Range tok, uint32_t n, uint32_t n_head,
                 uint32_t head_dim, uint32_t group, uint32_t kvdim, float scale, float softcap, uint32_t window,
                 std::string *why);
bool record_kv_shift(Device *d, Range src, Range dst, Range cs, uint32_t moved, uint32_t kvdim, uint32_t head_dim,
                     uint32_t heads, uint32_t n_rot, bool neox, uint32_t keep, std::string *why);
bool record_silu_mul(Device *d, Range g, Range u, uint32_t count, std::string *why);
// g = gelu(g) * u (GELU's tanh form at binary16 precision, as the CPU path), in place.
bool record_gelu_mul(Device *d, Range g, Range u, uint32_t count, std::string *why);
// x += y (residual adds after a post-norm).
bool record_add(Device *d, Range x, Range y, uint32_t count, std::string *why);

// The tests' entry points: each runs one op on the chosen device (CPU devices allowed).
bool test_matmul(int type, const void *w, size_t wbytes, uint32_t rows, uint32_t cols, const float *x, uint32_t n,
                 const float *bias, float *y, std::string *why);
bool test_rmsnorm(const float *x, const float *w, uint32_t dim, uint32_t rows, float eps, float *out, std::string *why);
bool test_rope(float *v, const float *cs, uint32_t n, uint32_t heads, uint32_t head_dim, uint32_t n_rot, bool neox,
               std::string *why);
bool test_silu_mul(float *g, const float *u, uint32_t count, std::string *why);
bool test_gelu_mul(float *g, const float *u, uint32_t count, std::string *why);
bool test_add(float *x, const float *y, uint32_t count, std::string *why);
// Stores k and v (n x kvdim) at positions pos0.. of an f16 cache already holding kc0/vc0 (pos0 x kvdim binary16
// values), then attention of q (n x n_head x head_dim).
bool test_attn(const float *q, const float *k, const float *v, const uint16_t *kc0, const uint16_t *vc0, uint32_t n,
               uint32_t n_head, uint32_t n_head_kv, uint32_t head_dim, uint32_t pos0, float scale, float softcap,
               uint32_t window, float *out, std::string *why);

} // namespace kvk
