#include "quants.h"

#include <string.h>

namespace {

void f32_copy_to(const void *src, float *dst, int64_t n) { memcpy(dst, src, n * sizeof(float)); }
void f32_copy_from(const float *src, void *dst, int64_t n) { memcpy(dst, src, n * sizeof(float)); }
void f32_vec_dot(int64_t n, float *s, const void *x, const void *y) {
  const float *a = static_cast<const float *>(x), *b = static_cast<const float *>(y);
  double acc = 0;
  for (int64_t i = 0; i < n; i++) acc += static_cast<double>(a[i]) * b[i];
  *s = static_cast<float>(acc);
}

const kiln_type_traits F32 = {"f32", 1, 4, f32_copy_to, f32_copy_from, f32_vec_dot, KILN_TYPE_F32};

} // namespace

extern "C" const kiln_type_traits *kiln_type_traits_of(int type) {
  switch (type) {
  case KILN_TYPE_F32: return &F32;
  default: return nullptr;
  }
}

extern "C" size_t kiln_row_size(int type, int64_t n) {
  const kiln_type_traits *t = kiln_type_traits_of(type);
  return t == nullptr ? 0 : static_cast<size_t>(n / t->block_size) * t->type_size;
}
