#include "ops.h"

#include <vector>

namespace {

// Quantizes activations into scratch (or points at them, for F32) and returns the operand.
const void *prepare_act(const kiln_kernel_table *kt, kiln_type vdt, const float *x, int64_t n,
                        std::vector<uint8_t> &scratch) {
  if (vdt == KILN_TYPE_F32) return x;
  scratch.resize(kiln_row_size(vdt, n));
  kt->from_float[vdt](x, scratch.data(), n);
  return scratch.data();
}

} // namespace

extern "C" int kiln_vec_dot_f32(kiln_variant v, int type, const void *row, const float *act, int64_t n, float *out) {
  const kiln_type_traits *tr = kiln_type_traits_of(type);
  const kiln_kernel_table *kt = kiln_kernels_for(v);
  if (tr == nullptr || kt == nullptr || kt->vec_dot[type] == nullptr) return -1;
  std::vector<uint8_t> scratch;
  const void *y = prepare_act(kt, tr->vec_dot_type, act, n, scratch);
  kt->vec_dot[type](n, out, row, y);
  return 0;
}

extern "C" int kiln_matvec(kiln_variant v, int type, const void *w, int64_t rows, int64_t cols, const float *x,
                           float *out) {
  const kiln_type_traits *tr = kiln_type_traits_of(type);
  const kiln_kernel_table *kt = kiln_kernels_for(v);
  if (tr == nullptr || kt == nullptr || kt->vec_dot[type] == nullptr) return -1;
  std::vector<uint8_t> scratch;
  const void *y = prepare_act(kt, tr->vec_dot_type, x, cols, scratch);
  const size_t row_bytes = kiln_row_size(type, cols);
  const uint8_t *base = static_cast<const uint8_t *>(w);
  kiln_vec_dot_fn dot = kt->vec_dot[type];
  for (int64_t r = 0; r < rows; r++) dot(cols, out + r, base + r * row_bytes, y);
  return 0;
}
