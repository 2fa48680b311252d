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

struct MatmulJob {
  kiln_vec_dot_fn dot;
  kiln_vec_dot_tile_fn tile; // NULL: loop over dot
  int64_t cols;
  const uint8_t *w;
  size_t row_bytes;
  const uint8_t *act;
  size_t act_bytes;
  int32_t n;
  float *y;
  int64_t ldy;
};

// Rows [b, e) against every token. Token blocks outermost: this chunk of
// weights (~256 KB) stays in L2 while all tokens pass over it, and a block of
// KILN_TILE_COLS activation rows stays in L1 across the chunk's rows.
void matmul_rows(void *ctx, int64_t b, int64_t e) {
  const MatmulJob &j = *static_cast<const MatmulJob *>(ctx);
  for (int32_t t0 = 0; t0 < j.n; t0 += KILN_TILE_COLS) {
    const int nc = j.n - t0 < KILN_TILE_COLS ? j.n - t0 : KILN_TILE_COLS;
    const uint8_t *a = j.act + (size_t)t0 * j.act_bytes;
    float *y = j.y + (int64_t)t0 * j.ldy;
    for (int64_t r = b; r < e; r += KILN_TILE_ROWS) {
      const int nr = e - r < KILN_TILE_ROWS ? (int)(e - r) : KILN_TILE_ROWS;
      const uint8_t *w = j.w + r * j.row_bytes;
      if (j.tile != nullptr) {
        j.tile(j.cols, y + r, j.ldy, w, j.row_bytes, nr, a, j.act_bytes, nc);
      } else {
        for (int c = 0; c < nc; c++)
          for (int i = 0; i < nr; i++) j.dot(j.cols, y + c * j.ldy + r + i, w + i * j.row_bytes, a + c * j.act_bytes);
      }
    }
  }
}

// Rows per chunk: ~256 KB of weights. Bigger chunks keep each thread's reads
// sequential for the prefetchers: cold Q4_K matvec on two threads reached 63%
// of the plain read bandwidth with 9 KB chunks, 87% with 128 KB, 93% with
// 256 and 512 KB. But at least 4 chunks per thread, so a thread that is
// descheduled on a busy machine leaves little behind. Below 2^17 weight-token
// products (tens of microseconds) waking other threads costs more than it
// saves, so the product stays on the caller.
int64_t matmul_grain(int64_t rows, int64_t cols, size_t row_bytes, int32_t n) {
  if (rows * cols * n < (int64_t(1) << 17)) return rows;
  int64_t g = (int64_t)((size_t(256) << 10) / (row_bytes > 0 ? row_bytes : 1));
  const int64_t balance = rows / (4 * (int64_t)kiln_pool_threads());
  if (g > balance) g = balance;
  // whole tiles, so a chunk boundary never splits one
  g = (g + KILN_TILE_ROWS - 1) / KILN_TILE_ROWS * KILN_TILE_ROWS;
  return g < KILN_TILE_ROWS ? KILN_TILE_ROWS : g;
}

// Batches of at least this many tokens take the gemm kernels where the type
// has them: below it the lanes they leave empty cost more than the dot tiles.
const int32_t GEMM_MIN_TOKENS = 8;

struct GemmJob {
  kiln_gemm_fn gemm;
  kiln_gemm_pack_fn pack;
  int64_t cols;
  const uint8_t *w;
  size_t row_bytes;
  const uint8_t *act; // quantized activations, act_bytes apart
  size_t act_bytes;
  uint8_t *packed;    // one packed block per KILN_GEMM_TOKENS tokens, block_bytes apart
  size_t block_bytes;
  int32_t n;
  float *y;
  int64_t ldy;
};

int block_tokens(const GemmJob &j, int64_t blk) {
  const int64_t left = j.n - blk * KILN_GEMM_TOKENS;
  return left < KILN_GEMM_TOKENS ? (int)left : KILN_GEMM_TOKENS;
}

void gemm_pack_blocks(void *ctx, int64_t b, int64_t e) {
  const GemmJob &j = *static_cast<const GemmJob *>(ctx);
  for (int64_t blk = b; blk < e; blk++)
    j.pack(j.cols, j.act + (size_t)blk * KILN_GEMM_TOKENS * j.act_bytes, j.act_bytes, block_tokens(j, blk),
           j.packed + (size_t)blk * j.block_bytes);
}

// Work units of the gemm path: a chunk of rows (as matmul_grain sizes them)
// against a group of GEMM_GROUP_BLOCKS token blocks, ordered so a chunk's
// groups run one after another (its weights stay in cache between them).
// Splitting the tokens too keeps units short (~0.2 ms for a 512-token prompt
// on 4096-wide rows): a pool thread descheduled by a busy machine in the
// middle of a unit holds up the others for at most that long.
const int64_t GEMM_GROUP_BLOCKS = 4;

struct GemmUnits {
  const GemmJob *job;
  int64_t rows, grain, blocks, groups;
};

void gemm_units(void *ctx, int64_t b, int64_t e) {
  const GemmUnits &u = *static_cast<const GemmUnits *>(ctx);
  const GemmJob &j = *u.job;
  for (int64_t unit = b; unit < e; unit++) {
    const int64_t r0 = unit / u.groups * u.grain, r1 = r0 + u.grain < u.rows ? r0 + u.grain : u.rows;
    const int64_t g = unit % u.groups;
    const int64_t b0 = g * GEMM_GROUP_BLOCKS, b1 = b0 + GEMM_GROUP_BLOCKS < u.blocks ? b0 + GEMM_GROUP_BLOCKS : u.blocks;
    for (int64_t blk = b0; blk < b1; blk++) {
      float *y = j.y + blk * KILN_GEMM_TOKENS * j.ldy;
      for (int64_t r = r0; r < r1; r += KILN_TILE_ROWS) {
        const int nr = r1 - r < KILN_TILE_ROWS ? (int)(r1 - r) : KILN_TILE_ROWS;
        const uint8_t *w = j.w + r * j.row_bytes;
        j.gemm(j.cols, y + r, j.ldy, w, j.row_bytes, nr, j.packed + (size_t)blk * j.block_bytes, block_tokens(j, blk));
      }
    }
  }
}

// A small batch split as llama.cpp splits a repacked Q4_K matrix's (whole fours of tokens through
// the gemm, the rest through the dot tiles), in ONE pass over the weights: each chunk of rows
// meets the gemm's tokens, then, while it is still in cache, the others. A decode step of 5-7
// sequences otherwise streams the matrix from memory twice. Same kernels, same bits.
struct SplitJob {
  const GemmJob *gemm; // the head: one packed block (at most KILN_GEMM_TOKENS tokens)
  const MatmulJob *dot; // the tail
};

void split_rows(void *ctx, int64_t b, int64_t e) {
  const SplitJob &s = *static_cast<const SplitJob *>(ctx);
  const GemmJob &j = *s.gemm;
  for (int64_t r = b; r < e; r += KILN_TILE_ROWS) {
    const int nr = e - r < KILN_TILE_ROWS ? (int)(e - r) : KILN_TILE_ROWS;
    j.gemm(j.cols, j.y + r, j.ldy, j.w + r * j.row_bytes, j.row_bytes, nr, j.packed, j.n);
  }
  matmul_rows(const_cast<MatmulJob *>(s.dot), b, e);
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

extern "C" int kiln_matmul_q(const kiln_kernel_table *kt, int type, const void *w, int64_t rows, int64_t cols,
                             const void *act, size_t act_bytes, int32_t n, float *y, int64_t ldy) {
  if (kiln_type_traits_of(type) == nullptr || kt == nullptr || kt->vec_dot[type] == nullptr) return -1;
  // llama.cpp's x86 builds repack a Q4_K matrix whose rows come in 8s and run each whole group of
  // 4 tokens of a batch through a gemm and the tokens left through a gemv, which round their sums
  // differently; kiln's Q4_K gemm sums as that gemm, its dot as that gemv, so the batch is split
  // the same way (the tokens past the last group of 4 continue below)
  const bool split4 = type == KILN_TYPE_Q4_K && kt->gemm[type] != nullptr && rows % 8 == 0;
  if (split4 && n >= 4 && n % 4 != 0 && n - n % 4 <= KILN_GEMM_TOKENS) {
    const int32_t head = n - n % 4;
    thread_local std::vector<uint8_t> packed_small;
    const size_t block_bytes = kt->gemm_size[type](cols);
    try {
      if (packed_small.size() < block_bytes) packed_small.resize(block_bytes);
    } catch (...) {
      return -1;
    }
    const size_t row_bytes = kiln_row_size(type, cols);
    const uint8_t *a = static_cast<const uint8_t *>(act);
    GemmJob g{kt->gemm[type], kt->gemm_pack[type], cols, static_cast<const uint8_t *>(w), row_bytes, a, act_bytes,
              packed_small.data(), block_bytes, head, y, ldy};
    kt->gemm_pack[type](cols, a, act_bytes, head, packed_small.data());
    MatmulJob d{kt->vec_dot[type], kt->vec_dot_tile[type], cols, static_cast<const uint8_t *>(w), row_bytes,
                a + (size_t)head * act_bytes, act_bytes, n - head, y + (int64_t)head * ldy, ldy};
    SplitJob sj{&g, &d};
    kiln_pool_run(split_rows, &sj, rows, matmul_grain(rows, cols, row_bytes, n));
    return 0;
  }
  if (split4 && n >= 4 && n % 4 != 0) {
    const int32_t head = n - n % 4;
    if (kiln_matmul_q(kt, type, w, rows, cols, act, act_bytes, head, y, ldy) != 0) return -1;
    return kiln_matmul_q(kt, type, w, rows, cols, static_cast<const uint8_t *>(act) + (size_t)head * act_bytes, act_bytes, n % 4,
                         y + (int64_t)head * ldy, ldy);
  }
  // llama.cpp's llamafile gemm takes every F16 or F32 batch of 2 tokens or more whose rows come in
  // whole 16-value steps and whose row count is a multiple of 4, its vec_dot the rest (single
  // tokens, ragged rows, a one-row gate); kiln's float gemm sums as that gemm does, its F16 and
  // F32 dots as that vec_dot
  const bool floats = type == KILN_TYPE_F16 || type == KILN_TYPE_F32;
  const bool gemm = floats ? n >= 2 && cols % 16 == 0 && rows % 4 == 0 : n >= GEMM_MIN_TOKENS || (split4 && n >= 4);
  if (kt->gemm[type] != nullptr && gemm) {
    // the caller's packing buffer, reused across calls (a prompt makes hundreds)
    thread_local std::vector<uint8_t> packed;
    const size_t block_bytes = kt->gemm_size[type](cols);
    const int64_t blocks = (n + KILN_GEMM_TOKENS - 1) / KILN_GEMM_TOKENS;
    try {
      if (packed.size() < (size_t)blocks * block_bytes) packed.resize((size_t)blocks * block_bytes);
    } catch (...) {
      return -1;
    }
    GemmJob job{kt->gemm[type], kt->gemm_pack[type], cols, static_cast<const uint8_t *>(w), kiln_row_size(type, cols),
                static_cast<const uint8_t *>(act), act_bytes, packed.data(), block_bytes, n, y, ldy};
    kiln_pool_run(gemm_pack_blocks, &job, blocks, 1);
    const int64_t grain = matmul_grain(rows, cols, job.row_bytes, n);
    const int64_t groups = (blocks + GEMM_GROUP_BLOCKS - 1) / GEMM_GROUP_BLOCKS;
    GemmUnits units{&job, rows, grain, blocks, groups};
    kiln_pool_run(gemm_units, &units, (rows + grain - 1) / grain * groups, 1);
    return 0;
  }
  MatmulJob job{kt->vec_dot[type], kt->vec_dot_tile[type], cols, static_cast<const uint8_t *>(w), kiln_row_size(type, cols),
                static_cast<const uint8_t *>(act), act_bytes, n, y, ldy};
  kiln_pool_run(matmul_rows, &job, rows, matmul_grain(rows, cols, job.row_bytes, n));
  return 0;
}

extern "C" int kiln_matmul_q_dots(const kiln_kernel_table *kt, int type, const void *w, int64_t rows, int64_t cols,
                                  const void *act, size_t act_bytes, int32_t n, float *y, int64_t ldy) {
  if (kiln_type_traits_of(type) == nullptr || kt == nullptr || kt->vec_dot[type] == nullptr) return -1;
  MatmulJob job{kt->vec_dot[type], kt->vec_dot_tile[type], cols, static_cast<const uint8_t *>(w), kiln_row_size(type, cols),
                static_cast<const uint8_t *>(act), act_bytes, n, y, ldy};
  kiln_pool_run(matmul_rows, &job, rows, matmul_grain(rows, cols, job.row_bytes, n));
  return 0;
}

extern "C" int kiln_matvec(kiln_variant v, int type, const void *w, int64_t rows, int64_t cols, const float *x,
                           float *out) {
  const kiln_type_traits *tr = kiln_type_traits_of(type);
  const kiln_kernel_table *kt = kiln_kernels_for(v);
  if (tr == nullptr || kt == nullptr || kt->vec_dot[type] == nullptr) return -1;
  std::vector<uint8_t> scratch;
  const void *y = prepare_act(kt, tr->vec_dot_type, x, cols, scratch);
  return kiln_matmul_q(kt, type, w, rows, cols, y, 0, 1, out, 0);
}

namespace {

struct QuantActJob {
  kiln_from_float_fn q;
  const float *x;
  int64_t cols;
  uint8_t *dst;
  size_t bytes;
};

void quant_act_rows(void *ctx, int64_t b, int64_t e) {
  const QuantActJob &j = *static_cast<const QuantActJob *>(ctx);
  for (int64_t t = b; t < e; t++) j.q(j.x + t * j.cols, j.dst + t * j.bytes, j.cols);
}

} // namespace

extern "C" int kiln_matmul(kiln_variant v, int type, const void *w, int64_t rows, int64_t cols, const float *x, int32_t n,
                           float *y) {
  const kiln_type_traits *tr = kiln_type_traits_of(type);
  const kiln_kernel_table *kt = kiln_kernels_for(v);
  if (tr == nullptr || kt == nullptr || kt->vec_dot[type] == nullptr) return -1;
  const kiln_type vdt = tr->vec_dot_type;
  if (vdt == KILN_TYPE_F32) return kiln_matmul_q(kt, type, w, rows, cols, x, (size_t)cols * sizeof(float), n, y, rows);
  const size_t act_bytes = kiln_row_size(vdt, cols);
  std::vector<uint8_t> act(act_bytes * (size_t)n);
  QuantActJob qj{kt->from_float[vdt], x, cols, act.data(), act_bytes};
  kiln_pool_run(quant_act_rows, &qj, n, 1);
  return kiln_matmul_q(kt, type, w, rows, cols, act.data(), act_bytes, n, y, rows);
}

namespace {

struct QuantJob {
  kiln_from_float_fn quant;
  kiln_weighted_fn weighted;
  int64_t cols;
  size_t row_bytes;
  const float *src;
  uint8_t *dst;
  const float *imp;
};

void quantize_rows(void *ctx, int64_t b, int64_t e) {
  const QuantJob &j = *static_cast<const QuantJob *>(ctx);
  for (int64_t r = b; r < e; r++) {
    if (j.weighted != nullptr) j.weighted(j.src + r * j.cols, j.dst + r * j.row_bytes, j.cols, j.imp);
    else j.quant(j.src + r * j.cols, j.dst + r * j.row_bytes, j.cols);
  }
}

} // namespace

extern "C" int kiln_quantize_rows(int type, const float *src, int64_t rows, int64_t cols, void *dst, const float *imp) {
  const kiln_type_traits *tr = kiln_type_traits_of(type);
  if (tr == nullptr || tr->from_float_ref == nullptr) return -1;
  QuantJob job{tr->from_float_ref, kiln_weighted_quantizer(type), cols, kiln_row_size(type, cols), src, static_cast<uint8_t *>(dst), imp};
  // The reference quantizers cost ~100 ns per value: one row is plenty of work per chunk.
  kiln_pool_run(quantize_rows, &job, rows, cols >= 4096 ? 1 : 4096 / (cols > 0 ? cols : 1));
  return 0;
}

extern "C" int kiln_quantize_rows_plain(int type, const float *src, int64_t rows, int64_t cols, void *dst) {
  const kiln_from_float_fn plain = kiln_plain_quantizer(type);
  if (plain == nullptr) return -1;
  QuantJob job{plain, nullptr, cols, kiln_row_size(type, cols), src, static_cast<uint8_t *>(dst), nullptr};
  kiln_pool_run(quantize_rows, &job, rows, cols >= 4096 ? 1 : 4096 / (cols > 0 ? cols : 1));
  return 0;
}
