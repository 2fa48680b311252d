#include "ops.h"

#include <stdlib.h>
#include <string.h>

namespace kvk {

namespace {

// A 1-D grid of `threads` invocations in 64-wide groups, folded into y past 1024 groups (the shaders read x + 65536 y).
void grid1(uint64_t threads, uint32_t *gx, uint32_t *gy) {
  const uint64_t groups = (threads + 63) / 64;
  *gx = groups < 1024 ? (uint32_t)(groups ? groups : 1) : 1024;
  *gy = (uint32_t)((groups + 1023) / 1024);
  if (*gy == 0) *gy = 1;
}

// One workgroup per row, folded into y past 32768 rows.
void grid_rows(uint32_t rows, uint32_t *gx, uint32_t *gy) {
  *gx = rows < 32768 ? rows : 32768;
  *gy = (rows + 32767) / 32768;
}

} // namespace

bool type_supported(int t) {
  return t == 0 || t == 1 || t == 2 || t == 3 || t == 6 || t == 7 || t == 8 || t == 12 || t == 13 || t == 14;
}

static size_t row_bytes(int type, uint32_t cols) {
  switch (type) {
    case 0: return (size_t)cols * 4;
    case 1: return (size_t)cols * 2;
    case 2: return (size_t)cols / 32 * 18;
    case 3: return (size_t)cols / 32 * 20;
    case 6: return (size_t)cols / 32 * 22;
    case 7: return (size_t)cols / 32 * 24;
    case 8: return (size_t)cols / 32 * 34;
    case 12: return (size_t)cols / 256 * 144;
    case 13: return (size_t)cols / 256 * 176;
    case 14: return (size_t)cols / 256 * 210;
  }
  return 0;
}

bool record_matmul(Device *d, const MatmulArgs &a, Range w, Range x, Range y, const Range *bias, const Range &dummy,
                   std::string *why) {
  if (!type_supported(a.type)) {
    *why = "weight type " + std::to_string(a.type) + " has no Vulkan kernel";
    return false;
  }
  // CPU devices take the barrier-free one-row-per-invocation shader; KILN_VULKAN_MATMUL=rows|groups overrides (tests)
  const char *force = getenv("KILN_VULKAN_MATMUL");
  const bool rows_variant = force && *force ? strcmp(force, "rows") == 0 : d->info().type == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const Pipeline *p = d->pipeline(rows_variant ? "matmul_rows" : "matmul", 4, (uint32_t)a.type, why);
  if (!p) return false;
  struct {
    uint32_t rows, cols, row_bytes, n, x_stride, y_stride, y_off, flags;
  } pc{a.rows, a.cols, (uint32_t)row_bytes(a.type, a.cols), a.n, a.x_stride, a.y_stride, a.y_off,
       (a.accumulate ? 1u : 0u) | (bias ? 2u : 0u)};
  uint32_t gx, gy;
  if (rows_variant)
    grid1(a.rows, &gx, &gy);
  else
    grid_rows(a.rows, &gx, &gy);
  return d->dispatch(p, {w, x, y, bias ? *bias : dummy}, &pc, sizeof pc, gx, gy, (a.n + 3) / 4, why);
}

bool record_rmsnorm(Device *d, Range x, Range w, Range out, uint32_t dim, uint32_t rows, float eps, std::string *why) {
  const Pipeline *p = d->pipeline("rmsnorm", 3, 0, why);
  if (!p) return false;
  struct {
    uint32_t d, rows;
    float eps;
  } pc{dim, rows, eps};
  uint32_t gx, gy;
  grid_rows(rows, &gx, &gy);
  return d->dispatch(p, {x, w, out}, &pc, sizeof pc, gx, gy, 1, why);
}

bool record_rope(Device *d, Range v, Range cs, uint32_t n, uint32_t heads, uint32_t head_dim, uint32_t n_rot, bool neox,
                 uint32_t stride, std::string *why) {
  const Pipeline *p = d->pipeline("rope", 2, 0, why);
  if (!p) return false;
  struct {
    uint32_t n, heads, head_dim, n_rot, neox, stride;
  } pc{n, heads, head_dim, n_rot, neox ? 1u : 0u, stride};
  uint32_t gx, gy;
  grid1((uint64_t)n * heads * (n_rot / 2), &gx, &gy);
  return d->dispatch(p, {v, cs}, &pc, sizeof pc, gx, gy, 1, why);
}

bool record_kv_store(Device *d, Range k, Range v, Range kc, Range vc, Range tok, uint32_t n, uint32_t kvdim,
                     std::string *why) {
  const Pipeline *p = d->pipeline("kv_store", 5, 0, why);
  if (!p) return false;
  struct {
    uint32_t n, kvdim;
  } pc{n, kvdim};
  uint32_t gx, gy;
  grid1((uint64_t)n * (kvdim / 2), &gx, &gy);
  return d->dispatch(p, {k, v, kc, vc, tok}, &pc, sizeof pc, gx, gy, 1, why);
}

bool record_attn(Device *d, Range q, Range kc, Range vc, Range out, Range tok, uint32_t n, uint32_t n_head,
                 uint32_t head_dim, uint32_t group, uint32_t kvdim, float scale, float softcap, uint32_t window,
                 std::string *why) {
  const Pipeline *p = d->pipeline("attn", 5, 0, why);
  if (!p) return false;
  struct {
    uint32_t n, n_head, head_dim, group, kvdim;
    float scale, softcap;
    uint32_t window;
  } pc{n, n_head, head_dim, group, kvdim, scale, softcap, window};
  return d->dispatch(p, {q, kc, vc, out, tok}, &pc, sizeof pc, n_head, n, 1, why);
}

bool record_kv_shift(Device *d, Range src, Range dst, Range cs, uint32_t moved, uint32_t kvdim, uint32_t head_dim,
                     uint32_t heads, uint32_t n_rot, bool neox, uint32_t keep, std::string *why) {
  const Pipeline *p = d->pipeline("kv_shift", 3, 0, why);
  if (!p) return false;
  struct {
    uint32_t moved, kvdim, head_dim, heads, n_rot, neox, keep;
  } pc{moved, kvdim, head_dim, heads, n_rot, neox ? 1u : 0u, keep};
  uint32_t gx, gy;
  grid1((uint64_t)moved * heads, &gx, &gy);
  return d->dispatch(p, {src, dst, cs}, &pc, sizeof pc, gx, gy, 1, why);
}

// The elementwise two-buffer shaders (x op= y over count floats): silu_mul, gelu_mul, add.
static bool record_pair(Device *d, const char *shader, Range g, Range u, uint32_t count, std::string *why) {
  const Pipeline *p = d->pipeline(shader, 2, 0, why);
  if (!p) return false;
  uint32_t gx, gy;
  grid1(count, &gx, &gy);
  return d->dispatch(p, {g, u}, &count, sizeof count, gx, gy, 1, why);
}

bool record_silu_mul(Device *d, Range g, Range u, uint32_t count, std::string *why) {
  return record_pair(d, "silu_mul", g, u, count, why);
}

bool record_gelu_mul(Device *d, Range g, Range u, uint32_t count, std::string *why) {
  return record_pair(d, "gelu_mul", g, u, count, why);
}

bool record_add(Device *d, Range x, Range y, uint32_t count, std::string *why) { return record_pair(d, "add", x, y, count, why); }

// --- one op at a time, for the tests ------------------------------------------------

namespace {

Device *test_device(std::string *why) {
  const int i = choose(true, why);
  return i < 0 ? nullptr : device(i, why);
}

// Device buffers of a test, freed on scope exit.
struct Bufs {
  Device *d;
  std::vector<Buffer> b;
  explicit Bufs(Device *dev) : d(dev) {}
  ~Bufs() {
    for (Buffer &x : b) d->free(&x);
  }
  // A device-local buffer holding src (or zeros); NULL on failure.
  Buffer *make(const void *src, size_t bytes, std::string *why) {
    b.emplace_back();
    Buffer *x = &b.back();
    if (!d->alloc(x, bytes ? bytes : 16, true, why)) return nullptr;
    std::vector<uint8_t> zero;
    if (!src) {
      zero.assign(bytes ? bytes : 16, 0);
      src = zero.data();
    }
    return d->upload(*x, 0, src, bytes ? bytes : 16, why) ? x : nullptr;
  }
};

Range whole(const Buffer *b) { return Range{b, 0, b->size}; }

} // namespace

bool test_matmul(int type, const void *w, size_t wbytes, uint32_t rows, uint32_t cols, const float *x, uint32_t n,
                 const float *bias, float *y, std::string *why) {
  Device *d = test_device(why);
  if (!d) return false;
  std::lock_guard<std::mutex> g(d->lock());
  Bufs bs(d);
  bs.b.reserve(5);
  Buffer *bw = bs.make(w, wbytes, why), *bx = bw ? bs.make(x, (size_t)n * cols * 4, why) : nullptr;
  Buffer *by = bx ? bs.make(nullptr, (size_t)n * rows * 4, why) : nullptr;
  Buffer *bb = by ? bs.make(bias, bias ? rows * 4 : 16, why) : nullptr;
  if (!bb) return false;
  const Range rb = whole(bb);
  MatmulArgs a{type, rows, cols, n, cols, rows, 0, false};
  if (!d->begin(why) || !record_matmul(d, a, whole(bw), whole(bx), whole(by), bias ? &rb : nullptr, rb, why) ||
      !d->submit(why))
    return false;
  return d->download(*by, 0, y, (size_t)n * rows * 4, why);
}

bool test_rmsnorm(const float *x, const float *w, uint32_t dim, uint32_t rows, float eps, float *out, std::string *why) {
  Device *d = test_device(why);
  if (!d) return false;
  std::lock_guard<std::mutex> g(d->lock());
  Bufs bs(d);
  bs.b.reserve(3);
  Buffer *bx = bs.make(x, (size_t)dim * rows * 4, why), *bw = bx ? bs.make(w, (size_t)dim * 4, why) : nullptr;
  Buffer *bo = bw ? bs.make(nullptr, (size_t)dim * rows * 4, why) : nullptr;
  if (!bo) return false;
  if (!d->begin(why) || !record_rmsnorm(d, whole(bx), whole(bw), whole(bo), dim, rows, eps, why) || !d->submit(why))
    return false;
  return d->download(*bo, 0, out, (size_t)dim * rows * 4, why);
}

bool test_rope(float *v, const float *cs, uint32_t n, uint32_t heads, uint32_t head_dim, uint32_t n_rot, bool neox,
               std::string *why) {
  Device *d = test_device(why);
  if (!d) return false;
  std::lock_guard<std::mutex> g(d->lock());
  Bufs bs(d);
  bs.b.reserve(2);
  const size_t vb = (size_t)n * heads * head_dim * 4;
  Buffer *bv = bs.make(v, vb, why), *bc = bv ? bs.make(cs, (size_t)n * n_rot * 4, why) : nullptr;
  if (!bc) return false;
  if (!d->begin(why) || !record_rope(d, whole(bv), whole(bc), n, heads, head_dim, n_rot, neox, heads * head_dim, why) ||
      !d->submit(why))
    return false;
  return d->download(*bv, 0, v, vb, why);
}

// One elementwise two-buffer op (record_silu_mul, record_gelu_mul or record_add) over count floats, in place.
static bool test_pair(bool (*rec)(Device *, Range, Range, uint32_t, std::string *), float *gv, const float *u, uint32_t count,
                      std::string *why) {
  Device *d = test_device(why);
  if (!d) return false;
  std::lock_guard<std::mutex> g(d->lock());
  Bufs bs(d);
  bs.b.reserve(2);
  Buffer *bg = bs.make(gv, (size_t)count * 4, why), *bu = bg ? bs.make(u, (size_t)count * 4, why) : nullptr;
  if (!bu) return false;
  if (!d->begin(why) || !rec(d, whole(bg), whole(bu), count, why) || !d->submit(why)) return false;
  return d->download(*bg, 0, gv, (size_t)count * 4, why);
}

bool test_silu_mul(float *gv, const float *u, uint32_t count, std::string *why) { return test_pair(record_silu_mul, gv, u, count, why); }
bool test_gelu_mul(float *gv, const float *u, uint32_t count, std::string *why) { return test_pair(record_gelu_mul, gv, u, count, why); }
bool test_add(float *x, const float *y, uint32_t count, std::string *why) { return test_pair(record_add, x, y, count, why); }

bool test_attn(const float *q, const float *k, const float *v, const uint16_t *kc0, const uint16_t *vc0, uint32_t n,
               uint32_t n_head, uint32_t n_head_kv, uint32_t head_dim, uint32_t pos0, float scale, float softcap,
               uint32_t window, float *out, std::string *why) {
  Device *d = test_device(why);
  if (!d) return false;
  const uint32_t kvdim = n_head_kv * head_dim;
  if (kvdim % 2 || head_dim > 256 || n_head % n_head_kv) {
    *why = "attention shape unsupported on the device";
    return false;
  }
  std::lock_guard<std::mutex> g(d->lock());
  Bufs bs(d);
  bs.b.reserve(7);
  const size_t cache = (size_t)(pos0 + n) * kvdim * 2;
  std::vector<uint32_t> tok((size_t)n * 2, 0); // one sequence: positions pos0.., rows from 0
  for (uint32_t t = 0; t < n; t++) tok[2 * t] = pos0 + t;
  std::vector<uint16_t> kc((size_t)(pos0 + n) * kvdim, 0), vc(kc.size(), 0);
  if (pos0) {
    memcpy(kc.data(), kc0, (size_t)pos0 * kvdim * 2);
    memcpy(vc.data(), vc0, (size_t)pos0 * kvdim * 2);
  }
  Buffer *bq = bs.make(q, (size_t)n * n_head * head_dim * 4, why);
  Buffer *bk = bq ? bs.make(k, (size_t)n * kvdim * 4, why) : nullptr;
  Buffer *bv = bk ? bs.make(v, (size_t)n * kvdim * 4, why) : nullptr;
  Buffer *bkc = bv ? bs.make(kc.data(), cache, why) : nullptr;
  Buffer *bvc = bkc ? bs.make(vc.data(), cache, why) : nullptr;
  Buffer *bo = bvc ? bs.make(nullptr, (size_t)n * n_head * head_dim * 4, why) : nullptr;
  Buffer *bt = bo ? bs.make(tok.data(), tok.size() * 4, why) : nullptr;
  if (!bt) return false;
  if (!d->begin(why) || !record_kv_store(d, whole(bk), whole(bv), whole(bkc), whole(bvc), whole(bt), n, kvdim, why) ||
      !record_attn(d, whole(bq), whole(bkc), whole(bvc), whole(bo), whole(bt), n, n_head, head_dim, n_head / n_head_kv,
                   kvdim, scale, softcap, window, why) ||
      !d->submit(why))
    return false;
  return d->download(*bo, 0, out, (size_t)n * n_head * head_dim * 4, why);
}

} // namespace kvk
