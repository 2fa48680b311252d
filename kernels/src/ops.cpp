#include "ops.h"

#include <vector>

#include "pool.h"

namespace {

// Quantizes activations into scratch (or points at them, for F32) and returns the operand.
const void *prepare_act(const kiln_kernel_table *kt, kiln_type vdt, const float *x, int64_t n,
                        std::vector<uint8_t> &scratch) {
  if (vdt == KILN_TYPE_F32) return x;
  scratch.resize(kiln_row_size(vdt, n));
  kt->from_float[vdt](x, scratch.data(), n);
  return scratch.data();
}

struct MatvecJob {
  kiln_vec_dot_fn dot;
  int64_t cols;
  const uint8_t *w;
  size_t row_bytes;
  const void *y;
  float *out;
};

void matvec_rows(void *ctx, int64_t b, int64_t e) {
  const MatvecJob &j = *static_cast<const MatvecJob *>(ctx);
  for (int64_t r = b; r < e; r++) j.dot(j.cols, j.out + r, j.w + r * j.row_bytes, j.y);
}

// Rows per chunk: about 16k weights per chunk keeps scheduling overhead small
// while leaving enough chunks to balance threads. Below 256k weights (~30 us on
// one AVX2 core) waking other threads costs more than it saves, so the matrix
// stays on the calling thread (n <= grain).
int64_t matvec_grain(int64_t rows, int64_t cols) {
  if (rows * cols < (int64_t(1) << 18)) return rows;
  const int64_t g = 16384 / (cols > 0 ? cols : 1);
  return g < 1 ? 1 : g;
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
  MatvecJob job{kt->vec_dot[type], cols, static_cast<const uint8_t *>(w), kiln_row_size(type, cols), y, out};
  kiln_pool_run(matvec_rows, &job, rows, matvec_grain(rows, cols));
  return 0;
}

namespace {

struct QuantJob {
  kiln_from_float_fn quant;
  int64_t cols;
  size_t row_bytes;
  const float *src;
  uint8_t *dst;
};

void quantize_rows(void *ctx, int64_t b, int64_t e) {
  const QuantJob &j = *static_cast<const QuantJob *>(ctx);
  for (int64_t r = b; r < e; r++) j.quant(j.src + r * j.cols, j.dst + r * j.row_bytes, j.cols);
}

} // namespace

extern "C" int kiln_quantize_rows(int type, const float *src, int64_t rows, int64_t cols, void *dst) {
  const kiln_type_traits *tr = kiln_type_traits_of(type);
  if (tr == nullptr) return -1;
  QuantJob job{tr->from_float_ref, cols, kiln_row_size(type, cols), src, static_cast<uint8_t *>(dst)};
  // The reference quantizers cost ~100 ns per value: one row is plenty of work per chunk.
  kiln_pool_run(quantize_rows, &job, rows, cols >= 4096 ? 1 : 4096 / (cols > 0 ? cols : 1));
  return 0;
}
