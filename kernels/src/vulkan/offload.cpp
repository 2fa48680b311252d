#include "offload.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "../quants.h"
}
#include "ops.h"
#include "vk.h"

using namespace kvk;

namespace {

// The per-layer weights the device path reads, in upload order.
enum W { ATTN_NORM, WQ, WK, WV, WO, BQ, BK, BV, FFN_NORM, GATE, UP, DOWN, QNORM, KNORM, NW };

const kiln_weight &weight_of(const kiln_llama_layer &L, int i) {
  const kiln_weight *all[NW] = {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv,
                                &L.ffn_norm,  &L.w_gate, &L.w_up, &L.w_down, &L.attn_q_norm, &L.attn_k_norm};
  return *all[i];
}

size_t weight_bytes(const kiln_weight &w) { return w.data ? kiln_row_size(w.type, w.ne0) * (size_t)w.ne1 : 0; }

VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

// Why the device path cannot run this model (empty: it can).
std::string unsupported(const kiln_llama_model *m, int32_t first, const DeviceInfo &di) {
  const kiln_llama_params &p = m->p;
  if (p.attn_softcap != 0) return "attention soft-capping";
  if (p.n_swa > 0) return "sliding-window attention";
  if (p.ffn_gelu) return "a GELU feed-forward";
  if (p.attn_q_scale != 0) return "a query scale";
  if (p.head_dim > 256) return "head_dim above 256";
  if (((int64_t)p.n_head_kv * p.head_dim) % 2) return "an odd KV row";
  for (int32_t l = first; l < p.n_layer; l++) {
    const kiln_llama_layer &L = m->layers[l];
    if (L.ffn_gate_inp.data) return "a mixture of experts";
    if (L.wqkv.data) return "a fused qkv projection";
    if (!L.w_gate.data) return "a fused gate/up projection";
    if (L.attn_post_norm.data || L.ffn_post_norm.data) return "post-norms";
    for (int i = 0; i < NW; i++) {
      const kiln_weight &w = weight_of(L, i);
      if (!w.data) continue;
      if (!type_supported(w.type)) return "weight type " + std::to_string(w.type);
      if (weight_bytes(w) > di.max_storage_range) return "a weight larger than the device's storage-buffer range";
    }
  }
  const int64_t cache_layer = (int64_t)p.n_ctx * p.n_head_kv * p.head_dim * 2;
  if ((uint64_t)cache_layer > di.max_storage_range) return "a KV cache layer larger than the device's storage-buffer range";
  return "";
}

std::once_flag logged_cpu;

} // namespace

struct kiln_vk_offload {
  Device *d = nullptr;
  kiln_llama_params p;
  int32_t first = 0, count = 0;
  std::vector<Buffer> blocks;           // weights, in a few large blocks
  std::vector<Range> w;                 // count * NW ranges (bytes 0: absent)
  std::vector<kiln_weight> meta;        // count * NW: type and shape
  Buffer kv;                            // the f16 KV cache: per layer K then V, n_ctx * kvdim each
  VkDeviceSize kv_layer = 0;
  Buffer act, io, dummy;                // activations (device), host <-> device transfer, an unused binding
  int32_t act_n = 0;                    // the batch the activation buffers hold
  Range x, xn, q, k, v, att, ffg, ffu, cs; // ranges of act
  Range io_x, io_cs;
  std::string error;

  ~kiln_vk_offload() {
    if (!d) return;
    for (Buffer &b : blocks) d->free(&b);
    d->free(&kv);
    d->free(&act);
    d->free(&io);
    d->free(&dummy);
  }

  // Sizes the activation buffers for a batch of n.
  bool ensure_act(int32_t n, std::string *why) {
    if (n <= act_n) return true;
    d->free(&act);
    d->free(&io);
    const VkDeviceSize a = align_up(d->info().storage_align < 16 ? 16 : d->info().storage_align, 16);
    const int64_t dm = p.n_embd, qd = (int64_t)p.n_head * p.head_dim, kvd = (int64_t)p.n_head_kv * p.head_dim;
    const int64_t sizes[9] = {dm, dm, qd, kvd, kvd, qd, p.n_ff, p.n_ff, p.n_rot};
    Range *rs[9] = {&x, &xn, &q, &k, &v, &att, &ffg, &ffu, &cs};
    VkDeviceSize off = 0;
    for (int i = 0; i < 9; i++) {
      *rs[i] = Range{&act, off, (VkDeviceSize)sizes[i] * n * 4};
      off = align_up(off + rs[i]->bytes, a);
    }
    if (!d->alloc(&act, off, true, why)) return false;
    const VkDeviceSize xb = (VkDeviceSize)dm * n * 4;
    if (!d->alloc(&io, align_up(xb, a) + (VkDeviceSize)p.n_rot * n * 4, false, why)) return false;
    io_x = Range{&io, 0, xb};
    io_cs = Range{&io, align_up(xb, a), (VkDeviceSize)p.n_rot * n * 4};
    act_n = n;
    return true;
  }
};

kiln_vk_offload *kiln_vk_offload_new(const kiln_llama_model *m, int32_t first, const char **error) {
  *error = nullptr;
  std::string why;
  const int idx = choose(false, &why);
  Device *d = idx >= 0 ? device(idx, &why) : nullptr;
  if (d && why.empty()) why = unsupported(m, first, d->info());
  if (!d || !why.empty()) {
    std::call_once(logged_cpu, [&] { fprintf(stderr, "kiln: layers stay on the CPU: %s\n", why.c_str()); });
    return nullptr;
  }
  kiln_vk_offload *o = new kiln_vk_offload();
  o->d = d;
  o->p = m->p;
  o->first = first;
  o->count = m->p.n_layer - first;
  std::lock_guard<std::mutex> g(d->lock());
  auto fail = [&](const std::string &w) -> kiln_vk_offload * {
    static thread_local std::string msg;
    msg = w;
    *error = msg.c_str();
    delete o;
    return nullptr;
  };
  // weights: packed into blocks of up to 1 GiB (or the device's whole heap when smaller)
  const VkDeviceSize a = align_up(d->info().storage_align < 16 ? 16 : d->info().storage_align, 16);
  const VkDeviceSize block_max = (VkDeviceSize)1 << 30;
  o->w.resize((size_t)o->count * NW);
  o->meta.resize((size_t)o->count * NW);
  std::vector<std::pair<size_t, VkDeviceSize>> place(o->w.size()); // block, offset
  std::vector<VkDeviceSize> block_size{0};
  for (int32_t l = 0; l < o->count; l++)
    for (int i = 0; i < NW; i++) {
      const kiln_weight &w = weight_of(m->layers[first + l], i);
      const size_t j = (size_t)l * NW + i;
      o->meta[j] = w;
      const VkDeviceSize bytes = align_up(weight_bytes(w), 16);
      if (!bytes) continue;
      if (block_size.back() + bytes > block_max && block_size.back() > 0) block_size.push_back(0);
      place[j] = {block_size.size() - 1, block_size.back()};
      block_size.back() = align_up(block_size.back() + bytes, a);
    }
  o->blocks.resize(block_size.size());
  for (size_t b = 0; b < block_size.size(); b++)
    if (!d->alloc(&o->blocks[b], block_size[b], true, &why)) return fail(why);
  for (size_t j = 0; j < o->w.size(); j++) {
    const size_t bytes = weight_bytes(o->meta[j]);
    if (!bytes) {
      o->w[j] = Range{nullptr, 0, 0};
      continue;
    }
    o->w[j] = Range{&o->blocks[place[j].first], place[j].second, align_up(bytes, 16)};
    if (!d->upload(o->blocks[place[j].first], place[j].second, o->meta[j].data, bytes, &why)) return fail(why);
  }
  // the KV cache: one block, per layer K then V
  const int64_t kvd = (int64_t)m->p.n_head_kv * m->p.head_dim;
  o->kv_layer = align_up((VkDeviceSize)m->p.n_ctx * kvd * 2, a);
  if (!d->alloc(&o->kv, o->kv_layer * 2 * o->count, true, &why) || !d->alloc(&o->dummy, 16, true, &why) ||
      !o->ensure_act(1, &why))
    return fail(why);
  fprintf(stderr, "kiln: %d layers on %s (vulkan), %.1f MiB of device memory\n", o->count, d->info().name.c_str(),
          (double)kiln_vk_offload_bytes(o) / (1 << 20));
  return o;
}

void kiln_vk_offload_free(kiln_vk_offload *o) {
  if (!o) return;
  std::lock_guard<std::mutex> g(o->d->lock());
  delete o;
}

int kiln_vk_offload_shift(kiln_vk_offload *o, int32_t keep, int32_t discard, int32_t n_past, const float *cs,
                          const char **error) {
  Device *d = o->d;
  std::lock_guard<std::mutex> g(d->lock());
  const kiln_llama_params &p = o->p;
  std::string &why = o->error;
  why.clear();
  const int32_t moved = n_past - keep - discard;
  if (moved <= 0) return 0;
  const VkDeviceSize kvd = (VkDeviceSize)p.n_head_kv * p.head_dim, row = kvd * 2, bytes = row * moved;
  // the moving rows go through a scratch buffer first: source and destination overlap
  Buffer scratch, table;
  if (!d->alloc(&scratch, bytes * 2, true, &why) || !d->alloc(&table, (VkDeviceSize)p.n_rot * 4, false, &why)) {
    d->free(&scratch);
    *error = why.c_str();
    return -1;
  }
  memcpy(table.map, cs, (size_t)p.n_rot / 2 * 2 * 4);
  bool ok = d->begin(&why);
  for (int32_t l = 0; ok && l < o->count; l++) {
    const VkDeviceSize kc = o->kv_layer * 2 * l, vc = o->kv_layer * (2 * l + 1);
    const VkDeviceSize from = row * (keep + discard), to = row * keep;
    d->copy(o->kv, kc + from, scratch, 0, bytes);
    d->copy(o->kv, vc + from, scratch, bytes, bytes);
    d->copy(scratch, bytes, o->kv, vc + to, bytes);
    ok = record_kv_shift(d, Range{&scratch, 0, bytes}, Range{&o->kv, kc, o->kv_layer}, Range{&table, 0, table.size},
                         (uint32_t)moved, (uint32_t)kvd, p.head_dim, p.n_head_kv, p.n_rot, p.rope_neox, (uint32_t)keep, &why);
    // the next layer reuses the scratch rows: record_kv_shift's barrier orders it
  }
  std::string ignored;
  ok = ok ? d->submit(&why) : (d->submit(&ignored), false);
  d->free(&scratch);
  d->free(&table);
  if (!ok) {
    *error = why.c_str();
    return -1;
  }
  return 0;
}

uint64_t kiln_vk_offload_bytes(const kiln_vk_offload *o) {
  uint64_t s = o->kv.size + o->act.size + o->io.size;
  for (const Buffer &b : o->blocks) s += b.size;
  return s;
}

int kiln_vk_offload_eval(kiln_vk_offload *o, float *x, int32_t n, int32_t pos0, const float *rope_cs,
                                    const char **error) {
  Device *d = o->d;
  std::lock_guard<std::mutex> g(d->lock());
  const kiln_llama_params &p = o->p;
  std::string &why = o->error;
  why.clear();
  auto fail = [&]() {
    *error = why.c_str();
    return -1;
  };
  if (!o->ensure_act(n, &why)) return fail();
  const uint32_t dm = (uint32_t)p.n_embd, qd = (uint32_t)(p.n_head * p.head_dim), kvd = (uint32_t)(p.n_head_kv * p.head_dim);
  const uint32_t ff = (uint32_t)p.n_ff, un = (uint32_t)n;
  memcpy(static_cast<uint8_t *>(o->io.map) + o->io_x.offset, x, (size_t)n * dm * 4);
  memcpy(static_cast<uint8_t *>(o->io.map) + o->io_cs.offset, rope_cs, (size_t)n * p.n_rot * 4);
  auto sub = [](Range r, VkDeviceSize bytes) { return Range{r.b, r.offset, bytes}; };
  const Range X = sub(o->x, (VkDeviceSize)n * dm * 4), XN = sub(o->xn, (VkDeviceSize)n * dm * 4);
  const Range Q = sub(o->q, (VkDeviceSize)n * qd * 4), K = sub(o->k, (VkDeviceSize)n * kvd * 4),
              V = sub(o->v, (VkDeviceSize)n * kvd * 4), ATT = sub(o->att, (VkDeviceSize)n * qd * 4);
  const Range FG = sub(o->ffg, (VkDeviceSize)n * ff * 4), FU = sub(o->ffu, (VkDeviceSize)n * ff * 4);
  const Range CS = sub(o->cs, (VkDeviceSize)n * p.n_rot * 4);
  const Range dummy{&o->dummy, 0, 16};
  const float scale = 1.0f / sqrtf((float)p.head_dim);
  if (!d->begin(&why)) return fail();
  d->copy(o->io, o->io_x.offset, o->act, X.offset, X.bytes);
  d->copy(o->io, o->io_cs.offset, o->act, CS.offset, CS.bytes);
  for (int32_t l = 0; l < o->count; l++) {
    const Range *W = o->w.data() + (size_t)l * NW;
    const kiln_weight *M = o->meta.data() + (size_t)l * NW;
    auto mm = [&](int wi, Range in, uint32_t cols, Range out, uint32_t rows, int bias, bool acc) {
      MatmulArgs a{M[wi].type, rows, cols, un, cols, rows, 0, acc};
      return record_matmul(d, a, W[wi], in, out, bias >= 0 && W[bias].b ? &W[bias] : nullptr, dummy, &why);
    };
    const Range KC{&o->kv, o->kv_layer * 2 * l, (VkDeviceSize)p.n_ctx * kvd * 2};
    const Range VC{&o->kv, o->kv_layer * (2 * l + 1), (VkDeviceSize)p.n_ctx * kvd * 2};
    bool ok = record_rmsnorm(d, X, W[ATTN_NORM], XN, dm, un, p.rms_eps, &why) && mm(WQ, XN, dm, Q, qd, BQ, false) &&
              mm(WK, XN, dm, K, kvd, BK, false) && mm(WV, XN, dm, V, kvd, BV, false);
    if (ok && W[QNORM].b) ok = record_rmsnorm(d, Q, W[QNORM], Q, p.head_dim, un * p.n_head, p.rms_eps, &why);
    if (ok && W[KNORM].b) ok = record_rmsnorm(d, K, W[KNORM], K, p.head_dim, un * p.n_head_kv, p.rms_eps, &why);
    ok = ok && record_rope(d, Q, CS, un, p.n_head, p.head_dim, p.n_rot, p.rope_neox, qd, &why) &&
         record_rope(d, K, CS, un, p.n_head_kv, p.head_dim, p.n_rot, p.rope_neox, kvd, &why) &&
         record_kv_store(d, K, V, KC, VC, un, kvd, (uint32_t)pos0, &why) &&
         record_attn(d, Q, KC, VC, ATT, un, p.n_head, p.head_dim, p.n_head / p.n_head_kv, kvd, (uint32_t)pos0, scale, &why) &&
         mm(WO, ATT, qd, X, dm, -1, true) && record_rmsnorm(d, X, W[FFN_NORM], XN, dm, un, p.rms_eps, &why) &&
         mm(GATE, XN, dm, FG, ff, -1, false) && mm(UP, XN, dm, FU, ff, -1, false) &&
         record_silu_mul(d, FG, FU, un * ff, &why) && mm(DOWN, FG, ff, X, dm, -1, true);
    if (!ok) {
      std::string ignored;
      d->submit(&ignored);
      return fail();
    }
  }
  d->copy(o->act, X.offset, o->io, o->io_x.offset, X.bytes);
  if (!d->submit(&why)) return fail();
  memcpy(x, static_cast<uint8_t *>(o->io.map) + o->io_x.offset, (size_t)n * dm * 4);
  return 0;
}
