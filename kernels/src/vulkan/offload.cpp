#include "offload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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
enum W { ATTN_NORM, WQ, WK, WV, WO, BQ, BK, BV, FFN_NORM, GATE, UP, DOWN, QNORM, KNORM, ATTN_POST, FFN_POST, NW };

size_t weight_bytes(const kiln_weight &w) { return w.data ? kiln_row_size(w.type, w.ne0) * (size_t)w.ne1 : 0; }

// Rows [r0, r0 + rows) of a weight, as a weight of its own.
kiln_weight rows_of(const kiln_weight &w, int64_t r0, int64_t rows) {
  kiln_weight v = w;
  v.data = static_cast<const uint8_t *>(w.data) + kiln_row_size(w.type, w.ne0) * (size_t)r0;
  v.ne1 = rows;
  return v;
}

// A layer's weights as the device reads them: a fused qkv (phi3) split into its q, k and v rows, a fused
// gate|up (phi3's ffn_up: the gate's n_ff rows, then up's) into gate and up. Absent ones have data NULL.
void layer_weights(const kiln_llama_layer &L, const kiln_llama_params &p, kiln_weight *out) {
  const kiln_weight all[NW] = {L.attn_norm, L.wq,     L.wk,     L.wv,          L.wo,          L.bq,
                               L.bk,        L.bv,     L.ffn_norm, L.w_gate,    L.w_up,        L.w_down,
                               L.attn_q_norm, L.attn_k_norm, L.attn_post_norm, L.ffn_post_norm};
  for (int i = 0; i < NW; i++) out[i] = all[i];
  const int64_t qd = (int64_t)p.n_head * p.head_dim, kvd = (int64_t)p.n_head_kv * p.head_dim;
  if (L.wqkv.data) {
    out[WQ] = rows_of(L.wqkv, 0, qd);
    out[WK] = rows_of(L.wqkv, qd, kvd);
    out[WV] = rows_of(L.wqkv, qd + kvd, kvd);
  }
  if (!L.w_gate.data) {
    out[GATE] = rows_of(L.w_up, 0, p.n_ff);
    out[UP] = rows_of(L.w_up, p.n_ff, p.n_ff);
  }
}

VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

// Whether layer l attends through the sliding window (llama.cpp's pattern rule, as forward.cpp).
bool is_swa(const kiln_llama_params &p, int32_t l) {
  return p.n_swa > 0 && (p.swa_pattern == 0 || l % p.swa_pattern < p.swa_pattern - 1);
}

// Why the device path cannot run these layers of the model (empty: it can).
std::string unsupported(const kiln_llama_model *m, int32_t first, const DeviceInfo &di) {
  const kiln_llama_params &p = m->p;
  if (p.head_dim > 256) return "head_dim above 256";
  if (((int64_t)p.n_head_kv * p.head_dim) % 2) return "an odd KV row";
  for (int32_t l = first; l < p.n_layer; l++) {
    if (m->layers[l].ffn_gate_inp.data) return "a mixture of experts";
    kiln_weight ws[NW];
    layer_weights(m->layers[l], p, ws);
    for (int i = 0; i < NW; i++) {
      const kiln_weight &w = ws[i];
      if (!w.data) continue;
      if (!type_supported(w.type)) return "weight type " + std::to_string(w.type);
      if (weight_bytes(w) > di.max_storage_range) return "a weight larger than the device's storage-buffer range";
    }
  }
  // a layer's K (or V) rows of every sequence are one bound range
  const int64_t cache_layer = (int64_t)(p.n_seq > 0 ? p.n_seq : 1) * p.n_ctx * p.n_head_kv * p.head_dim * 2;
  if ((uint64_t)cache_layer > di.max_storage_range) return "a KV cache layer larger than the device's storage-buffer range";
  return "";
}

// Why the output projection cannot run on the device (empty: it can).
std::string output_unsupported(const kiln_weight &ow, const DeviceInfo &di) {
  if (!type_supported(ow.type)) return "weight type " + std::to_string(ow.type);
  if (kiln_row_size(ow.type, ow.ne0) > di.max_storage_range) return "a row larger than the device's storage-buffer range";
  return "";
}

std::once_flag logged_cpu, logged_output;

// A block of rows of the output projection (split so each fits the device's storage-buffer range).
struct OutChunk {
  size_t w; // index into the offload's weight ranges
  uint32_t row0, rows;
};

} // namespace

struct kiln_vk_offload {
  Device *d = nullptr;
  kiln_llama_params p;
  int32_t first = 0, count = 0;
  int32_t n_seq = 1;                    // sequences, each with n_ctx cache rows per layer
  std::vector<Buffer> blocks;           // weights, in a few large blocks
  std::vector<Range> w;                 // count * NW layer ranges (bytes 0: absent), then the output's
  std::vector<kiln_weight> meta;        // the same: type and shape
  bool has_output = false;              // final norm and output projection on the device
  size_t out_norm = 0;                  // index of output_norm in w
  int out_type = 0;
  std::vector<OutChunk> out_chunks;
  Buffer kv;                            // the f16 KV cache: per layer K then V, n_seq * n_ctx rows of kvdim each
  VkDeviceSize kv_layer = 0;
  Buffer act, io, dummy;                // activations (device), host <-> device transfer, an unused binding
  int32_t act_n = 0;                    // the batch the activation buffers hold
  Range x, xn, q, k, v, att, ffg, ffu, tmp, cs, cs_swa, tok; // ranges of act (tok: per token, position and first cache row)
  Range io_x, io_cs, io_cs_swa, io_tok;
  Buffer lg, lg_io;                     // the output rows gathered and their logits (device), and the logits' way back
  int32_t lg_n = 0;
  Range ox, logit, io_logit;
  std::string error;

  ~kiln_vk_offload() {
    if (!d) return;
    for (Buffer &b : blocks) d->free(&b);
    d->free(&kv);
    d->free(&act);
    d->free(&io);
    d->free(&lg);
    d->free(&lg_io);
    d->free(&dummy);
  }

  VkDeviceSize align() const { return align_up(d->info().storage_align < 16 ? 16 : d->info().storage_align, 16); }

  // Sizes the activation buffers for a batch of n.
  bool ensure_act(int32_t n, std::string *why) {
    if (n <= act_n) return true;
    d->free(&act);
    d->free(&io);
    act_n = 0;
    const VkDeviceSize a = align();
    const int64_t dm = p.n_embd, qd = (int64_t)p.n_head * p.head_dim, kvd = (int64_t)p.n_head_kv * p.head_dim;
    const int64_t sizes[12] = {dm, dm, qd, kvd, kvd, qd, p.n_ff, p.n_ff, dm, p.n_rot, p.n_rot, 2};
    Range *rs[12] = {&x, &xn, &q, &k, &v, &att, &ffg, &ffu, &tmp, &cs, &cs_swa, &tok};
    VkDeviceSize off = 0;
    for (int i = 0; i < 12; i++) {
      *rs[i] = Range{&act, off, (VkDeviceSize)sizes[i] * n * 4};
      off = align_up(off + rs[i]->bytes, a);
    }
    if (!d->alloc(&act, off, true, why)) return false;
    const VkDeviceSize xb = (VkDeviceSize)dm * n * 4, cb = (VkDeviceSize)p.n_rot * n * 4;
    const VkDeviceSize tb = (VkDeviceSize)n * 8;
    if (!d->alloc(&io, align_up(xb, a) + 2 * align_up(cb, a) + tb, false, why)) return false;
    io_x = Range{&io, 0, xb};
    io_cs = Range{&io, align_up(xb, a), cb};
    io_cs_swa = Range{&io, align_up(xb, a) + align_up(cb, a), cb};
    io_tok = Range{&io, align_up(xb, a) + 2 * align_up(cb, a), tb};
    act_n = n;
    return true;
  }

  // Sizes the output buffers for n_out rows of logits.
  bool ensure_logits(int32_t n_out, std::string *why) {
    if (n_out <= lg_n) return true;
    d->free(&lg);
    d->free(&lg_io);
    lg_n = 0;
    const VkDeviceSize oxb = (VkDeviceSize)p.n_embd * n_out * 4, lb = (VkDeviceSize)p.n_vocab * n_out * 4;
    if (!d->alloc(&lg, align_up(oxb, align()) + lb, true, why) || !d->alloc(&lg_io, lb, false, why)) return false;
    ox = Range{&lg, 0, oxb};
    logit = Range{&lg, align_up(oxb, align()), lb};
    io_logit = Range{&lg_io, 0, lb};
    lg_n = n_out;
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
  o->n_seq = m->p.n_seq > 0 ? m->p.n_seq : 1;
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
  const size_t nlw = (size_t)o->count * NW;
  o->meta.resize(nlw);
  for (int32_t l = 0; l < o->count; l++) layer_weights(m->layers[first + l], m->p, o->meta.data() + (size_t)l * NW);
  // the final norm and the output projection (the token embeddings when tied), in row chunks within the storage range
  if (m->p.gpu_output) {
    const kiln_weight &ow = m->output.data ? m->output : m->tok_embd;
    const std::string no = output_unsupported(ow, d->info());
    if (!no.empty()) {
      std::call_once(logged_output, [&] { fprintf(stderr, "kiln: the output projection stays on the CPU: %s\n", no.c_str()); });
    } else {
      o->has_output = true;
      o->out_type = ow.type;
      o->out_norm = o->meta.size();
      o->meta.push_back(m->output_norm);
      const VkDeviceSize row = kiln_row_size(ow.type, ow.ne0);
      const VkDeviceSize cap = d->info().max_storage_range < block_max ? d->info().max_storage_range : block_max;
      int64_t per = (int64_t)(cap / row) > 0 ? (int64_t)(cap / row) : 1;
      // KILN_VULKAN_OUTPUT_ROWS=N: blocks of at most N rows (the tests take the several-block path on a small vocabulary)
      const char *force = getenv("KILN_VULKAN_OUTPUT_ROWS");
      if (force && atoll(force) > 0 && atoll(force) < per) per = atoll(force);
      for (int64_t r0 = 0; r0 < ow.ne1; r0 += per) {
        const int64_t rows = ow.ne1 - r0 < per ? ow.ne1 - r0 : per;
        o->out_chunks.push_back(OutChunk{o->meta.size(), (uint32_t)r0, (uint32_t)rows});
        o->meta.push_back(rows_of(ow, r0, rows));
      }
    }
  }
  o->w.resize(o->meta.size());
  std::vector<std::pair<size_t, VkDeviceSize>> place(o->w.size()); // block, offset
  std::vector<VkDeviceSize> block_size{0};
  for (size_t j = 0; j < o->meta.size(); j++) {
    const VkDeviceSize bytes = align_up(weight_bytes(o->meta[j]), 16);
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
  o->kv_layer = align_up((VkDeviceSize)o->n_seq * m->p.n_ctx * kvd * 2, a);
  if (!d->alloc(&o->kv, o->kv_layer * 2 * o->count, true, &why) || !d->alloc(&o->dummy, 16, true, &why) ||
      !o->ensure_act(1, &why))
    return fail(why);
  fprintf(stderr, "kiln: %d layers%s on %s (vulkan), %.1f MiB of device memory\n", o->count,
          o->has_output ? " and the output" : "", d->info().name.c_str(), (double)kiln_vk_offload_bytes(o) / (1 << 20));
  return o;
}

void kiln_vk_offload_free(kiln_vk_offload *o) {
  if (!o) return;
  std::lock_guard<std::mutex> g(o->d->lock());
  delete o;
}

int kiln_vk_offload_shift(kiln_vk_offload *o, int32_t seq, int32_t keep, int32_t discard, int32_t n_past,
                          const float *cs, const float *cs_swa, const char **error) {
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
  if (!d->alloc(&scratch, bytes * 2, true, &why) || !d->alloc(&table, align_up((VkDeviceSize)p.n_rot * 4, o->align()) * 2, false, &why)) {
    d->free(&scratch);
    *error = why.c_str();
    return -1;
  }
  // the table: the normal layers' (cos, sin) pairs, then the sliding-window layers'
  const VkDeviceSize tb = (VkDeviceSize)p.n_rot / 2 * 2 * 4, tbo = align_up(tb, o->align());
  memcpy(table.map, cs, tb);
  if (cs_swa) memcpy(static_cast<uint8_t *>(table.map) + tbo, cs_swa, tb);
  bool ok = d->begin(&why);
  for (int32_t l = 0; ok && l < o->count; l++) {
    // this sequence's rows of the layer's K and V
    const VkDeviceSize seq_off = (VkDeviceSize)seq * p.n_ctx * row;
    const VkDeviceSize kc = o->kv_layer * 2 * l + seq_off, vc = o->kv_layer * (2 * l + 1) + seq_off;
    const VkDeviceSize from = row * (keep + discard), to = row * keep;
    d->copy(o->kv, kc + from, scratch, 0, bytes);
    d->copy(o->kv, vc + from, scratch, bytes, bytes);
    d->copy(scratch, bytes, o->kv, vc + to, bytes);
    // the layer's whole K range is bound (its offset stays aligned); the rows land at the sequence's keep
    const Range kall{&o->kv, o->kv_layer * 2 * l, (VkDeviceSize)o->n_seq * p.n_ctx * row};
    const Range tab{&table, is_swa(p, o->first + l) && cs_swa ? tbo : 0, tb};
    ok = record_kv_shift(d, Range{&scratch, 0, bytes}, kall, tab, (uint32_t)moved, (uint32_t)kvd, p.head_dim, p.n_head_kv,
                         p.n_rot, p.rope_neox, (uint32_t)(seq * p.n_ctx + keep), &why);
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
  uint64_t s = o->kv.size + o->act.size + o->io.size + o->lg.size + o->lg_io.size;
  for (const Buffer &b : o->blocks) s += b.size;
  return s;
}

int kiln_vk_offload_has_output(const kiln_vk_offload *o) { return o->has_output ? 1 : 0; }

int kiln_vk_offload_eval(kiln_vk_offload *o, float *x, int32_t n, const int32_t *pos, const int32_t *seq,
                         const float *rope_cs, const float *rope_cs_swa, const int32_t *out, int32_t n_out, float *logits,
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
  // the logits come from the device when it holds the output and they fit one bound range
  const bool dev_out = o->has_output && logits && n_out > 0 &&
                       (uint64_t)n_out * (uint64_t)p.n_vocab * 4 <= d->info().max_storage_range;
  if (!o->ensure_act(n, &why) || (dev_out && !o->ensure_logits(n_out, &why))) return fail();
  const bool swa_tab = p.n_swa > 0 && rope_cs_swa;
  const uint32_t dm = (uint32_t)p.n_embd, qd = (uint32_t)(p.n_head * p.head_dim), kvd = (uint32_t)(p.n_head_kv * p.head_dim);
  const uint32_t ff = (uint32_t)p.n_ff, un = (uint32_t)n;
  uint8_t *io = static_cast<uint8_t *>(o->io.map);
  memcpy(io + o->io_x.offset, x, (size_t)n * dm * 4);
  memcpy(io + o->io_cs.offset, rope_cs, (size_t)n * p.n_rot * 4);
  if (swa_tab) memcpy(io + o->io_cs_swa.offset, rope_cs_swa, (size_t)n * p.n_rot * 4);
  uint32_t *tk = reinterpret_cast<uint32_t *>(io + o->io_tok.offset);
  for (int32_t t = 0; t < n; t++) {
    tk[2 * t] = (uint32_t)pos[t];
    tk[2 * t + 1] = (uint32_t)seq[t] * (uint32_t)p.n_ctx;
  }
  auto sub = [](Range r, VkDeviceSize bytes) { return Range{r.b, r.offset, bytes}; };
  const Range X = sub(o->x, (VkDeviceSize)n * dm * 4), XN = sub(o->xn, (VkDeviceSize)n * dm * 4);
  const Range TMP = sub(o->tmp, (VkDeviceSize)n * dm * 4);
  const Range Q = sub(o->q, (VkDeviceSize)n * qd * 4), K = sub(o->k, (VkDeviceSize)n * kvd * 4),
              V = sub(o->v, (VkDeviceSize)n * kvd * 4), ATT = sub(o->att, (VkDeviceSize)n * qd * 4);
  const Range FG = sub(o->ffg, (VkDeviceSize)n * ff * 4), FU = sub(o->ffu, (VkDeviceSize)n * ff * 4);
  const Range CS = sub(o->cs, (VkDeviceSize)n * p.n_rot * 4), CS_SWA = sub(o->cs_swa, (VkDeviceSize)n * p.n_rot * 4);
  const Range TOK = sub(o->tok, (VkDeviceSize)n * 8);
  const Range dummy{&o->dummy, 0, 16};
  // a query scale is applied to the scores instead of to q (the same product)
  const float scale = p.attn_q_scale != 0.0f ? p.attn_q_scale : 1.0f / sqrtf((float)p.head_dim);
  if (!d->begin(&why)) return fail();
  d->copy(o->io, o->io_x.offset, o->act, X.offset, X.bytes);
  d->copy(o->io, o->io_cs.offset, o->act, CS.offset, CS.bytes);
  if (swa_tab) d->copy(o->io, o->io_cs_swa.offset, o->act, CS_SWA.offset, CS_SWA.bytes);
  d->copy(o->io, o->io_tok.offset, o->act, TOK.offset, TOK.bytes);
  auto abandon = [&]() {
    std::string ignored;
    d->submit(&ignored);
    return fail();
  };
  for (int32_t l = 0; l < o->count; l++) {
    const Range *W = o->w.data() + (size_t)l * NW;
    const kiln_weight *M = o->meta.data() + (size_t)l * NW;
    auto mm = [&](int wi, Range in, uint32_t cols, Range out, uint32_t rows, int bias, bool acc) {
      MatmulArgs a{M[wi].type, rows, cols, un, cols, rows, 0, acc};
      return record_matmul(d, a, W[wi], in, out, bias >= 0 && W[bias].b ? &W[bias] : nullptr, dummy, &why);
    };
    // an output projection into the residual: added straight in, or normed first (post-norm) then added
    auto residual = [&](int wi, Range in, uint32_t cols, int post) {
      if (!W[post].b) return mm(wi, in, cols, X, dm, -1, true);
      return mm(wi, in, cols, TMP, dm, -1, false) && record_rmsnorm(d, TMP, W[post], TMP, dm, un, p.rms_eps, &why) &&
             record_add(d, X, TMP, un * dm, &why);
    };
    const bool swa = is_swa(p, o->first + l);
    const Range &LCS = swa && swa_tab ? CS_SWA : CS;
    const VkDeviceSize cache = (VkDeviceSize)o->n_seq * p.n_ctx * kvd * 2;
    const Range KC{&o->kv, o->kv_layer * 2 * l, cache};
    const Range VC{&o->kv, o->kv_layer * (2 * l + 1), cache};
    bool ok = record_rmsnorm(d, X, W[ATTN_NORM], XN, dm, un, p.rms_eps, &why) && mm(WQ, XN, dm, Q, qd, BQ, false) &&
              mm(WK, XN, dm, K, kvd, BK, false) && mm(WV, XN, dm, V, kvd, BV, false);
    if (ok && W[QNORM].b) ok = record_rmsnorm(d, Q, W[QNORM], Q, p.head_dim, un * p.n_head, p.rms_eps, &why);
    if (ok && W[KNORM].b) ok = record_rmsnorm(d, K, W[KNORM], K, p.head_dim, un * p.n_head_kv, p.rms_eps, &why);
    ok = ok && record_rope(d, Q, LCS, un, p.n_head, p.head_dim, p.n_rot, p.rope_neox, qd, &why) &&
         record_rope(d, K, LCS, un, p.n_head_kv, p.head_dim, p.n_rot, p.rope_neox, kvd, &why) &&
         record_kv_store(d, K, V, KC, VC, TOK, un, kvd, &why) &&
         record_attn(d, Q, KC, VC, ATT, TOK, un, p.n_head, p.head_dim, p.n_head / p.n_head_kv, kvd, scale, p.attn_softcap,
                     swa ? (uint32_t)p.n_swa : 0u, &why) &&
         residual(WO, ATT, qd, ATTN_POST) && record_rmsnorm(d, X, W[FFN_NORM], XN, dm, un, p.rms_eps, &why) &&
         mm(GATE, XN, dm, FG, ff, -1, false) && mm(UP, XN, dm, FU, ff, -1, false) &&
         (p.ffn_gelu ? record_gelu_mul(d, FG, FU, un * ff, &why) : record_silu_mul(d, FG, FU, un * ff, &why)) &&
         residual(DOWN, FG, ff, FFN_POST);
    if (!ok) return abandon();
  }
  if (!dev_out) {
    d->copy(o->act, X.offset, o->io, o->io_x.offset, X.bytes);
    if (!d->submit(&why)) return fail();
    memcpy(x, io + o->io_x.offset, (size_t)n * dm * 4);
    return 0;
  }
  // the final norm of every token (kept for kiln_vk_offload_hidden), the rows asked for gathered, their logits
  if (!record_rmsnorm(d, X, o->w[o->out_norm], XN, dm, un, p.rms_eps, &why)) return abandon();
  const VkDeviceSize row = (VkDeviceSize)dm * 4;
  for (int32_t i = 0; i < n_out;) {
    int32_t j = i + 1;
    while (j < n_out && out[j] == out[j - 1] + 1) j++;
    d->copy(o->act, XN.offset + row * out[i], o->lg, o->ox.offset + row * i, row * (j - i));
    i = j;
  }
  const Range OX = sub(o->ox, row * n_out), LG = sub(o->logit, (VkDeviceSize)p.n_vocab * n_out * 4);
  for (const OutChunk &c : o->out_chunks) {
    MatmulArgs a{o->out_type, c.rows, dm, (uint32_t)n_out, dm, (uint32_t)p.n_vocab, c.row0, false};
    if (!record_matmul(d, a, o->w[c.w], OX, LG, nullptr, dummy, &why)) return abandon();
  }
  d->copy(o->lg, LG.offset, o->lg_io, 0, LG.bytes);
  if (!d->submit(&why)) return fail();
  memcpy(logits, o->lg_io.map, (size_t)LG.bytes);
  return 1;
}

int kiln_vk_offload_hidden(kiln_vk_offload *o, float *dst, int32_t n, const char **error) {
  Device *d = o->d;
  std::lock_guard<std::mutex> g(d->lock());
  o->error.clear();
  if (n > o->act_n || !d->download(o->act, o->xn.offset, dst, (size_t)n * o->p.n_embd * 4, &o->error)) {
    if (o->error.empty()) o->error = "no hidden states of that many tokens on the device";
    *error = o->error.c_str();
    return -1;
  }
  return 0;
}
