// The llama forward pass. Numerics follow what llama.cpp's CPU backend does
// where it matters for token-for-token agreement: RMSNorm sums float squares in
// double, RoPE angles come from repeated float multiplication of the base
// power, softmax sums in double, and the attention scale is applied to the
// raw scores before the causal softmax.
#include "forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <vector>

#include "../ops.h"
#include "../pool.h"
#include "../weight_check.h"
#include "../quants.h"
#include "../ref/half.h"
#include "../ref/kv_quant.h"
#include "../ref/llama_ops.h"
#include "../ref/rope.h"
#include "../variant.h"
#if KILN_HAVE_VULKAN
#include "../vulkan/offload.h"
#endif

struct kiln_llama_ctx {
  kiln_llama_model m;
  std::vector<kiln_llama_layer> layers;
  const kiln_kernel_table *kt;
  int32_t n_seq = 1;
  std::vector<int32_t> n_past; // cached positions, per sequence
  int64_t kv_dim = 0;
  // KV cache: [seq][layer][pos] rows of kv_dim values, keys of type_k and values of type_v (f32, f16, Q8_0, Q4_0)
  std::vector<uint8_t> kc, vc;
  int type_k = KILN_TYPE_F16, type_v = KILN_TYPE_F16;
  size_t krow = 0, vrow = 0;   // bytes of one position's row
  size_t khead = 0, vhead = 0; // bytes of one KV head's part of a row
  bool kv_quant = false;       // K or V in a block format, or K and V of different types: attention runs attn_quant
  // scratch, sized for the largest batch seen
  std::vector<float> x, xn, q, k, v, att, ffg, ffu, tmp, hidden;
  std::vector<float> qkv; // fused q|k|v projections (phi3)
  std::vector<uint8_t> actq;
  std::vector<float> rope_cs; // (cos, sin) per position of the batch and rotated pair
  std::vector<float> rope_cs_swa; // the same for the sliding-window layers (their own base and scale)
  std::vector<float> gathered;    // hidden rows whose logits were asked for, when not contiguous
  // mixture of experts: router logits, chosen experts and weights per token, and each expert's batch
  std::vector<float> moe_logits, moe_w, moe_x, moe_g, moe_u, moe_y, moe_out;
  std::vector<int32_t> moe_sel, moe_start, moe_list, moe_fill;
  // kiln_llama_route_trace: the last eval's expert choices ([token][layer][k]) and margins ([token][layer])
  bool route_trace = false;
  std::vector<int32_t> trace_sel;
  std::vector<float> trace_margin;
  // the batch being evaluated: each entry's position and sequence
  const int32_t *pos = nullptr, *seq = nullptr;
  std::vector<int32_t> row_tokens; // entries whose attention runs row by row (attn_rows)
  int32_t hidden_n = 0;
  kiln_matmul_observer observe = nullptr; // kiln_llama_observe
  void *observe_user = nullptr;
  // layers [gpu_first, n_layer) run on the Vulkan device (src/vulkan/offload.h); the CPU cache holds only the others
  struct kiln_vk_offload *gpu = nullptr;
  int32_t gpu_first = 0;
  int32_t cpu_layers = 0; // layers in the CPU cache (gpu_first): the layer stride of each sequence's region
  bool hidden_on_device = false; // the last eval's final hidden states are still on the device (its logits came from there)
  ~kiln_llama_ctx();
};

kiln_llama_ctx::~kiln_llama_ctx() {
#if KILN_HAVE_VULKAN
  kiln_vk_offload_free(gpu);
#endif
}

namespace {

bool present(const kiln_weight &w) { return w.data != nullptr; }

// Index of the (sequence, layer, position) row of the KV cache.
size_t kv_off(const kiln_llama_ctx *c, int32_t seq, int32_t layer, int32_t pos) {
  // each sequence's region holds the CPU layers only (cpu_layers: all of them without an offload)
  return ((size_t)seq * (size_t)c->cpu_layers + (size_t)layer) * (size_t)c->m.p.n_ctx + (size_t)pos;
}

uint8_t *k_at(kiln_llama_ctx *c, size_t row) { return c->kc.data() + row * c->krow; }
uint8_t *v_at(kiln_llama_ctx *c, size_t row) { return c->vc.data() + row * c->vrow; }

// How a row of f32 values is written into the cache in a type: the variant's
// converters, and for Q4_0 llama.cpp's round-to-nearest quantizer.
void kv_store(const kiln_llama_ctx *c, int type, const float *src, void *dst, int64_t n) {
  if (type == KILN_TYPE_F32)
    memcpy(dst, src, (size_t)n * sizeof(float));
  else if (type == KILN_TYPE_Q4_0)
    kiln_quantize_row_q4_0_rtn(src, dst, n);
  else
    c->kt->from_float[type](src, dst, n);
}

// Whether layer l attends through the sliding window (llama.cpp's pattern rule).
bool is_swa(const kiln_llama_params &p, int32_t l) {
  return p.n_swa > 0 && (p.swa_pattern == 0 || l % p.swa_pattern < p.swa_pattern - 1);
}

// First cache position a query at pos sees on a layer with this window (0: none).
int32_t window_start(int32_t pos, int32_t window) { return window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0; }

// The scale attention applies to q . k: none when q was scaled already (gemma).
float kernel_scale(const kiln_llama_params &p) { return p.attn_q_scale != 0.0f ? 1.0f : 1.0f / sqrtf((float)p.head_dim); }

// --- matmul: Y[t][r] = dot(W row r, X[t]) for t < n ------------------------

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

// dots_only: every token through the dot kernels, as llama.cpp multiplies a mixture's experts
bool matmul(kiln_llama_ctx *c, const kiln_weight &w, const float *x, int32_t n, float *y, const char **error, bool dots_only = false) {
  if (c->observe) c->observe(c->observe_user, &w, x, n);
  const kiln_type_traits *tr = kiln_type_traits_of(w.type);
  if (tr == nullptr || c->kt->vec_dot[w.type] == nullptr) {
    *error = "weight type has no dot product kernel";
    return false;
  }
  const int vdt = tr->vec_dot_type;
  const uint8_t *act;
  size_t act_bytes;
  if (vdt == KILN_TYPE_F32) {
    act = reinterpret_cast<const uint8_t *>(x);
    act_bytes = (size_t)w.ne0 * sizeof(float);
  } else {
    act_bytes = kiln_row_size(vdt, w.ne0);
    c->actq.resize(act_bytes * n);
    QuantActJob qj{c->kt->from_float[vdt], x, w.ne0, c->actq.data(), act_bytes};
    kiln_pool_run(quant_act_rows, &qj, n, 1);
    act = c->actq.data();
  }
  if (dots_only) kiln_matmul_q_dots(c->kt, w.type, w.data, w.ne1, w.ne0, act, act_bytes, n, y, w.ne1);
  else kiln_matmul_q(c->kt, w.type, w.data, w.ne1, w.ne0, act, act_bytes, n, y, w.ne1);
  return true;
}

// --- elementwise ------------------------------------------------------------

// Rotation angles of every (position, pair) of a batch: theta for pair i =
// pos * base^(-2i/n_rot) / freq_factor[i], built by repeated multiplication as
// llama.cpp does. Computed once per eval instead of once per head and layer.
// cos and sin are both multiplied by mscale (llama.cpp's attn_factor; exact
// when it is 1). With YaRN (p's yarn_ext_factor not 0) each angle mixes the
// interpolated and extrapolated ones as yarn_angle below.
struct Yarn {
  float ext = 0, corr0 = 0, corr1 = 0, mscale_mul = 1;
};

// ggml's YaRN correction dimensions for a base: the pairs whose wavelength fits beta_fast and
// beta_slow times in the original context, floored / ceiled and kept inside [0, n_rot - 1].
Yarn yarn_for(const kiln_llama_params &p, float base, float freq_scale) {
  Yarn y;
  if (p.yarn_ext_factor == 0.0f) return y;
  const float pi = 3.14159265358979323846f;
  auto dim = [&](float n_rot_turns) {
    return (float)p.n_rot * logf((float)p.yarn_orig_ctx / (n_rot_turns * 2 * pi)) / (2 * logf(base));
  };
  const float start = floorf(dim(p.yarn_beta_fast)), end = ceilf(dim(p.yarn_beta_slow));
  y.ext = p.yarn_ext_factor;
  y.corr0 = start > 0 ? start : 0;
  y.corr1 = end < (float)(p.n_rot - 1) ? end : (float)(p.n_rot - 1);
  y.mscale_mul = 1.0f + 0.1f * logf(1.0f / freq_scale);
  return y;
}

void rope_table(std::vector<float> &cs, int32_t n, const int32_t *pos, int32_t n_rot, float base, float freq_scale,
                const float *ff, float mscale, const Yarn &yarn = Yarn()) {
  const int32_t half = n_rot / 2;
  cs.resize((size_t)n * half * 2);
  const float theta_scale = powf(base, -2.0f / (float)n_rot);
  for (int32_t t = 0; t < n; t++) {
    float theta = (float)pos[t];
    float *row = cs.data() + (size_t)t * half * 2;
    for (int32_t i = 0; i < half; i++) {
      float a, ms = mscale;
      if (yarn.ext != 0.0f) {
        // the interpolated angle, moved toward the extrapolated one on the fast-turning pairs
        const float extrap = ff ? theta / ff[i] : theta, interp = freq_scale * extrap;
        const float width = yarn.corr1 - yarn.corr0 > 0.001f ? yarn.corr1 - yarn.corr0 : 0.001f;
        float y = ((float)i - yarn.corr0) / width;
        y = y < 0 ? 0 : y > 1 ? 1 : y;
        const float mix = (1 - y) * yarn.ext;
        a = interp * (1 - mix) + extrap * mix;
        ms *= yarn.mscale_mul;
      } else {
        a = theta * freq_scale;
        if (ff) a /= ff[i];
      }
      row[2 * i] = cosf(a) * ms;
      row[2 * i + 1] = sinf(a) * ms;
      theta *= theta_scale;
    }
  }
}

// Rotates one head in place with one position's (cos, sin) pairs, rounded as
// llama.cpp's CPU builds round them (ref/rope.h).
void rope(float *v, int32_t n_rot, const float *cs, bool neox) {
  const bool fused = kiln_rope_fused();
  for (int32_t i = 0; i < n_rot / 2; i++) {
    const int32_t a = neox ? i : 2 * i;
    const int32_t b = neox ? i + n_rot / 2 : 2 * i + 1;
    kiln_rope_pair(v, a, b, cs[2 * i], cs[2 * i + 1], fused);
  }
}

void add_bias(float *y, const kiln_weight &b, int32_t n, int64_t d) {
  if (!present(b)) return;
  const float *bb = static_cast<const float *>(b.data);
  for (int32_t t = 0; t < n; t++)
    for (int64_t i = 0; i < d; i++) y[t * d + i] += bb[i];
}

// --- attention ----------------------------------------------------------------

// llama.cpp's CPU flash attention sums over an f16 cache in binary16 for
// batches below this many queries and in f32 tiles from it on; kiln does the
// same (KILN_KV_F16_ACC16 below it, the batched f32 kernel from it on).
constexpr int32_t kLlamaCppTiledQueries = 64;

// Attention sinks (gpt-oss): head h's softmax has one more term, e^sink, in its denominator and
// none in its sum of values. The attention kernels give out = sum_s e^(x_s - M) v_s / S over the
// positions; this rescales it by S / (S + e^(sink - M)) (the same with every term scaled by
// e^(M - sink) when the sink is the largest logit, as llama.cpp folds it in), recomputing the
// positions' logits x_s = scale * q . k_s for M and S. k points at the first visible position of
// the query's KV head, rows k_stride bytes apart in the cache's key type; with an f16 cache q is
// rounded to binary16 first, as llama.cpp's flash attention rounds it.
void apply_sink(const kiln_llama_ctx *c, const float *q, const uint8_t *k, int32_t n_kv, float scale, float sink, float *out) {
  const int32_t hd = c->m.p.head_dim;
  thread_local std::vector<float> qh, kr, xs;
  qh.resize((size_t)hd);
  kr.resize((size_t)hd);
  xs.resize((size_t)(n_kv > 0 ? n_kv : 1));
  const bool f16 = c->type_k == KILN_TYPE_F16;
  for (int32_t i = 0; i < hd; i++) qh[i] = f16 ? kiln_f16_to_f32(kiln_f32_to_f16(q[i])) : q[i];
  float M = -INFINITY;
  for (int32_t s = 0; s < n_kv; s++) {
    const uint8_t *row = k + (size_t)s * c->krow;
    if (c->type_k == KILN_TYPE_F32)
      memcpy(kr.data(), row, (size_t)hd * sizeof(float));
    else
      kiln_type_traits_of(c->type_k)->to_float(row, kr.data(), hd);
    double dot = 0;
    for (int32_t i = 0; i < hd; i++) dot += (double)(qh[i] * kr[i]);
    xs[s] = (float)dot * scale;
    M = xs[s] > M ? xs[s] : M;
  }
  double S = 0;
  for (int32_t s = 0; s < n_kv; s++) S += (double)expf(xs[s] - M);
  float f;
  if (n_kv == 0) f = 0.0f;
  else if (sink > M) {
    const double a = S * (double)expf(M - sink);
    f = (float)(a / (a + 1.0));
  } else {
    f = (float)(S / (S + (double)expf(sink - M)));
  }
  for (int32_t i = 0; i < hd; i++) out[i] *= f;
}

// The sink folded in exactly as llama.cpp's flash attention does, after a KILN_KV_F16_ACC16 kernel
// that left its running maximum M and sum S (ref/llama_ops.h): out * S is its binary16 accumulator
// (recovered exactly by rounding to binary16), which is rescaled by e^(M - sink) when the sink is the
// new maximum, and divided by the sum with the sink's term added.
void fold_sink_acc16(float M, float S, float sink, int32_t hd, float *out) {
  float ms = 1.0f, vs = 1.0f;
  if (sink > M) ms = expf(M - sink);
  else vs = expf(sink - M);
  const float S2 = S * ms + vs;
  const float inv = S2 == 0.0f ? 0.0f : 1.0f / S2;
  for (int32_t i = 0; i < hd; i++) {
    float acc = kiln_f16_to_f32(kiln_f32_to_f16(out[i] * S));
    if (ms != 1.0f) acc *= ms;
    out[i] = acc * inv;
  }
}

// Attention rows are (token, query head) pairs; each runs the table's attn
// kernel over its causal prefix of the cache.
struct AttnJob {
  kiln_llama_ctx *c;
  int32_t layer;
  int mode;       // KILN_KV_*
  int32_t window; // sliding window, 0: none
  const float *sinks; // the layer's attention sinks (n_head), or NULL
};

void attn_rows(void *ctx, int64_t b, int64_t e) {
  const AttnJob &j = *static_cast<const AttnJob *>(ctx);
  kiln_llama_ctx *c = j.c;
  const kiln_llama_params &p = c->m.p;
  const int32_t hd = p.head_dim;
  const int32_t group = p.n_head / p.n_head_kv;
  const float scale = kernel_scale(p);
  const int64_t qdim = (int64_t)p.n_head * hd;
  // per-thread score scratch, kept across calls (the pool threads persist)
  thread_local std::vector<float> scores;
  const size_t need = c->kv_quant ? kiln_attn_quant_scratch(p.n_ctx, hd) : kiln_attn_scratch(p.n_ctx, hd);
  if (scores.size() < need) scores.resize(need);
  for (int64_t row = b; row < e; row++) {
    // rows are (entry, query head) pairs over the entries listed in row_tokens
    const int32_t t = c->row_tokens[row / p.n_head], h = (int32_t)(row % p.n_head);
    const int32_t pos = c->pos[t];
    const int32_t first = window_start(pos, j.window);
    const size_t r0 = kv_off(c, c->seq[t], j.layer, first);
    const uint8_t *k = k_at(c, r0) + (size_t)(h / group) * c->khead, *v = v_at(c, r0) + (size_t)(h / group) * c->vhead;
    const float *qh = c->q.data() + (int64_t)t * qdim + (int64_t)h * hd;
    float *out = c->att.data() + (int64_t)t * qdim + (int64_t)h * hd;
    if (c->kv_quant)
      c->kt->attn_quant(c->kt, qh, k, c->type_k, c->krow, v, c->type_v, c->vrow, pos + 1 - first, hd, scale, p.attn_softcap,
                        scores.data(), out);
    else
      c->kt->attn(qh, k, v, (size_t)c->kv_dim, pos + 1 - first, hd, scale, p.attn_softcap, j.mode, scores.data(), out);
    if (j.sinks && !c->kv_quant && j.mode == KILN_KV_F16_ACC16)
      fold_sink_acc16(scores[0], scores[1], j.sinks[h], hd, out);
    else if (j.sinks)
      apply_sink(c, qh, k, pos + 1 - first, scale, j.sinks[h], out);
  }
}

// Prompt batches: one work item is a KV head and a block of tokens, whose
// queries (every query head of the group, every token of the block) share the
// cache rows in one attn_batch call. Items run from the last token block
// (longest causal prefix) down, so the pool balances the uneven work.
struct AttnBatchJob {
  kiln_llama_ctx *c;
  int32_t layer, n, pos0, tb;
  int32_t seq, tbase; // the run's sequence and its first entry in the batch
  int64_t blocks;
  int32_t window; // sliding window, 0: none
  const float *sinks; // the layer's attention sinks (n_head), or NULL
};

void attn_batch_rows(void *ctx, int64_t b, int64_t e) {
  const AttnBatchJob &j = *static_cast<const AttnBatchJob *>(ctx);
  kiln_llama_ctx *c = j.c;
  const kiln_llama_params &p = c->m.p;
  const int32_t hd = p.head_dim, group = p.n_head / p.n_head_kv;
  const int64_t qdim = (int64_t)p.n_head * hd;
  thread_local std::vector<const float *> qs;
  thread_local std::vector<float *> outs;
  thread_local std::vector<int32_t> nkv, kv0;
  thread_local std::vector<float> scratch;
  for (int64_t item = b; item < e; item++) {
    const int32_t g = (int32_t)(item % p.n_head_kv);
    const int32_t t0 = (int32_t)((j.blocks - 1 - item / p.n_head_kv) * j.tb);
    const int32_t t1 = t0 + j.tb < j.n ? t0 + j.tb : j.n;
    qs.clear();
    outs.clear();
    nkv.clear();
    kv0.clear();
    // with a window, the rows start at the block's first visible position and each query's own start is relative to it
    const int32_t base = window_start(j.pos0 + t0, j.window);
    for (int32_t t = t0; t < t1; t++)
      for (int32_t h = g * group; h < (g + 1) * group; h++) {
        qs.push_back(c->q.data() + (int64_t)(j.tbase + t) * qdim + (int64_t)h * hd);
        outs.push_back(c->att.data() + (int64_t)(j.tbase + t) * qdim + (int64_t)h * hd);
        nkv.push_back(j.pos0 + t + 1 - base);
        kv0.push_back(window_start(j.pos0 + t, j.window) - base);
      }
    const size_t need = kiln_attn_batch_scratch((int)qs.size(), j.pos0 + t1 - base, hd);
    if (scratch.size() < need) scratch.resize(need);
    const size_t row = kv_off(c, j.seq, j.layer, base);
    const uint8_t *k = k_at(c, row) + (size_t)g * c->khead, *v = v_at(c, row) + (size_t)g * c->vhead;
    c->kt->attn_batch(qs.data(), outs.data(), j.window > 0 ? kv0.data() : nullptr, nkv.data(), (int)qs.size(), k, v,
                      (size_t)c->kv_dim, hd, kernel_scale(p), p.attn_softcap,
                      p.kv_cache == kiln_kv_cache::f16 ? KILN_KV_F16 : KILN_KV_F32, scratch.data());
    if (j.sinks) {
      size_t qi = 0;
      for (int32_t t = t0; t < t1; t++)
        for (int32_t h = g * group; h < (g + 1) * group; h++, qi++) {
          const int32_t first = j.window > 0 ? kv0[qi] : 0;
          apply_sink(c, qs[qi], k + (size_t)first * c->krow, nkv[qi] - first, kernel_scale(p), j.sinks[h], outs[qi]);
        }
    }
  }
}

// Elementwise work over the batch, split by token when it is worth waking the pool.
struct RowsJob {
  const kiln_kernel_table *kt;
  const float *x, *w, *u;
  float *out;
  int64_t d;
  float eps;
};

void rmsnorm_rows(void *ctx, int64_t b, int64_t e) {
  const RowsJob &j = *static_cast<const RowsJob *>(ctx);
  for (int64_t t = b; t < e; t++) j.kt->rmsnorm(j.x + t * j.d, j.w, j.eps, j.d, j.out + t * j.d);
}

void silu_rows(void *ctx, int64_t b, int64_t e) {
  const RowsJob &j = *static_cast<const RowsJob *>(ctx);
  for (int64_t t = b; t < e; t++) j.kt->silu_mul(j.x + t * j.d, j.u + t * j.d, j.out + t * j.d, j.d);
}

// A fused gate|up row per token (2d values: gate first, as ggml_swiglu reads it) → d values.
void silu_fused_rows(void *ctx, int64_t b, int64_t e) {
  const RowsJob &j = *static_cast<const RowsJob *>(ctx);
  for (int64_t t = b; t < e; t++) j.kt->silu_mul(j.x + t * 2 * j.d, j.x + t * 2 * j.d + j.d, j.out + t * j.d, j.d);
}

void gelu_rows(void *ctx, int64_t b, int64_t e) {
  const RowsJob &j = *static_cast<const RowsJob *>(ctx);
  for (int64_t t = b; t < e; t++) kiln_gelu_mul_ref(j.x + t * j.d, j.u + t * j.d, j.out + t * j.d, j.d);
}

// gpt-oss's clamped SwiGLU, as ggml's swiglu_oai computes it: the gate capped at limit, up clamped
// to [-limit, limit], and gate * sigmoid(alpha * gate) * (up + 1). w carries alpha, eps the limit.
void swiglu_oai_rows(void *ctx, int64_t b, int64_t e) {
  const RowsJob &j = *static_cast<const RowsJob *>(ctx);
  const float alpha = *j.w, limit = j.eps;
  for (int64_t t = b; t < e; t++) {
    const float *g = j.x + t * j.d, *u = j.u + t * j.d;
    float *o = j.out + t * j.d;
    for (int64_t i = 0; i < j.d; i++) {
      const float x = g[i] < limit ? g[i] : limit;
      const float y = u[i] < -limit ? -limit : u[i] > limit ? limit : u[i];
      const float glu = x / (1.0f + expf(alpha * (-x)));
      o[i] = glu * (y + 1.0f);
    }
  }
}

// Tokens per chunk so each holds ~64k values; a single token stays on the caller.
int64_t rows_grain(int64_t d) { return d >= 65536 ? 1 : 65536 / d; }

void rmsnorm(kiln_llama_ctx *c, const float *x, const kiln_weight &w, int32_t n, int64_t d, float *out) {
  RowsJob j{c->kt, x, static_cast<const float *>(w.data), nullptr, out, d, c->m.p.rms_eps};
  kiln_pool_run(rmsnorm_rows, &j, n, rows_grain(d));
}

// --- mixture of experts ---------------------------------------------------------

bool is_moe(const kiln_llama_layer &L) { return present(L.ffn_gate_inp); }

// Expert e's 2-D slice of a 3-D expert tensor held as n_expert * rows rows.
kiln_weight expert_slice(const kiln_weight &w, int32_t e, int64_t rows) {
  kiln_weight s = w;
  s.data = static_cast<const uint8_t *>(w.data) + (size_t)e * (size_t)rows * kiln_row_size(w.type, w.ne0);
  s.ne1 = rows;
  return s;
}

// Row e (n floats) of a per-expert F32 bias tensor, as a one-row weight.
kiln_weight expert_bias(const kiln_weight &b, int32_t e, int64_t n) {
  kiln_weight s = b;
  s.data = static_cast<const float *>(b.data) + (size_t)e * (size_t)n;
  s.ne0 = n;
  s.ne1 = 1;
  return s;
}

// Softmax of n values in place, as ggml's soft_max sums it: exp(x - max), the sum in double, then
// every value multiplied by the float of 1/sum.
void softmax_inplace(float *x, int32_t n) {
  float mx = -INFINITY;
  for (int32_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (int32_t i = 0; i < n; i++) {
    x[i] = expf(x[i] - mx);
    sum += (double)x[i];
  }
  const float inv = (float)(1.0 / sum);
  for (int32_t i = 0; i < n; i++) x[i] *= inv;
}

// One token's routing: from its n_expert router logits, the chosen experts (sel, by descending
// score, as ggml's argsort orders them; equal scores keep expert order) and their weights (w),
// as llama.cpp's build_moe_ffn derives them.
void moe_route(const kiln_llama_params &p, float *logits, int32_t *sel, float *w) {
  const int32_t ne = p.n_expert, k = p.n_expert_used;
  if (p.expert_gating == KILN_GATING_SOFTMAX) softmax_inplace(logits, ne);
  else if (p.expert_gating == KILN_GATING_SIGMOID)
    for (int32_t e = 0; e < ne; e++) logits[e] = 1.0f / (1.0f + expf(-logits[e]));
  for (int32_t j = 0; j < k; j++) {
    int32_t best = -1;
    for (int32_t e = 0; e < ne; e++) {
      bool taken = false;
      for (int32_t i = 0; i < j && !taken; i++) taken = sel[i] == e;
      if (!taken && (best < 0 || logits[e] > logits[best])) best = e;
    }
    sel[j] = best;
    w[j] = logits[best];
  }
  if (p.expert_gating == KILN_GATING_SOFTMAX_WEIGHT) softmax_inplace(w, k);
  if (p.expert_weights_norm) {
    double sum = 0;
    for (int32_t j = 0; j < k; j++) sum += (double)w[j];
    float s = (float)sum;
    if (s < 6.103515625e-5f) s = 6.103515625e-5f; // llama.cpp's clamp (the smallest normal f16)
    for (int32_t j = 0; j < k; j++) w[j] /= s;
  }
  if (p.expert_weights_scale != 0.0f && p.expert_weights_scale != 1.0f)
    for (int32_t j = 0; j < k; j++) w[j] *= p.expert_weights_scale;
}


// The MoE FFN of n tokens (normalized input xn, n * n_embd) into out (n * n_embd): the router picks
// each token's experts, the tokens are grouped by expert so that each chosen expert's slices are
// read once for the batch (a single token reads only its k experts), and each token's expert
// outputs are multiplied by their weights and summed in the order chosen, as llama.cpp adds them.
// A shared expert (qwen2moe), gated by the sigmoid of its own one-row router, is added last.
bool moe_ffn(kiln_llama_ctx *c, int32_t layer, const kiln_llama_layer &L, const float *xn, int32_t n, float *out, const char **error) {
  const kiln_llama_params &p = c->m.p;
  const int64_t d = p.n_embd, ff = p.n_ff_exp;
  const int32_t ne = p.n_expert, k = p.n_expert_used;
  try {
    c->moe_logits.resize((size_t)n * ne);
    c->moe_sel.resize((size_t)n * k);
    c->moe_w.resize((size_t)n * k);
    c->moe_out.resize((size_t)n * k * d);
    c->moe_start.assign((size_t)ne + 1, 0);
    c->moe_fill.reserve((size_t)ne);
    c->moe_list.resize((size_t)n * k);
  } catch (...) {
    *error = "out of memory for the experts";
    return false;
  }
  if (!matmul(c, L.ffn_gate_inp, xn, n, c->moe_logits.data(), error)) return false;
  add_bias(c->moe_logits.data(), L.ffn_gate_inp_b, n, ne);
  for (int32_t t = 0; t < n; t++) {
    float *scores = c->moe_logits.data() + (size_t)t * ne;
    int32_t *sel = c->moe_sel.data() + (size_t)t * k;
    moe_route(p, scores, sel, c->moe_w.data() + (size_t)t * k);
    if (c->route_trace) {
      // the choice and its margin: the last chosen expert's score over the best one left out
      int32_t *ts = c->trace_sel.data() + ((size_t)t * p.n_layer + layer) * k;
      memcpy(ts, sel, k * sizeof(int32_t));
      float out_best = -INFINITY;
      for (int32_t e = 0; e < ne; e++) {
        bool chosen = false;
        for (int32_t j = 0; j < k; j++) chosen = chosen || sel[j] == e;
        if (!chosen && scores[e] > out_best) out_best = scores[e];
      }
      c->trace_margin[(size_t)t * p.n_layer + layer] = k < ne ? scores[sel[k - 1]] - out_best : INFINITY;
    }
  }
  // counting sort of the (token, slot) pairs by expert, tokens in batch order within an expert
  for (int32_t i = 0; i < n * k; i++) c->moe_start[c->moe_sel[i] + 1]++;
  for (int32_t e = 0; e < ne; e++) c->moe_start[e + 1] += c->moe_start[e];
  c->moe_fill.assign(c->moe_start.begin(), c->moe_start.end() - 1);
  for (int32_t i = 0; i < n * k; i++) c->moe_list[c->moe_fill[c->moe_sel[i]]++] = i;
  for (int32_t e = 0; e < ne; e++) {
    const int32_t b = c->moe_start[e], cnt = c->moe_start[e + 1] - b;
    if (cnt == 0) continue;
    try {
      c->moe_g.resize((size_t)cnt * ff);
      c->moe_u.resize((size_t)cnt * ff);
      c->moe_y.resize((size_t)cnt * d);
      if (n > 1) c->moe_x.resize((size_t)cnt * d);
    } catch (...) {
      *error = "out of memory for the experts";
      return false;
    }
    // the expert's tokens, gathered (a single token is its own batch)
    const float *x = xn;
    if (n > 1) {
      for (int32_t i = 0; i < cnt; i++) memcpy(c->moe_x.data() + (size_t)i * d, xn + (size_t)(c->moe_list[b + i] / k) * d, d * sizeof(float));
      x = c->moe_x.data();
    }
    // each slice is observed as a weight of its own (an importance matrix keeps one vector per expert)
    // (one token at a time in the dot kernels' order: llama.cpp's MUL_MAT_ID takes no batch gemm)
    if (!matmul(c, expert_slice(L.ffn_gate_exps, e, ff), x, cnt, c->moe_g.data(), error, true) ||
        !matmul(c, expert_slice(L.ffn_up_exps, e, ff), x, cnt, c->moe_u.data(), error, true))
      return false;
    // the expert's own biases (gpt-oss): row e of each bias tensor
    if (present(L.ffn_gate_exps_b)) add_bias(c->moe_g.data(), expert_bias(L.ffn_gate_exps_b, e, ff), cnt, ff);
    if (present(L.ffn_up_exps_b)) add_bias(c->moe_u.data(), expert_bias(L.ffn_up_exps_b, e, ff), cnt, ff);
    const float alpha = p.swiglu_oai_alpha;
    RowsJob sj{c->kt, c->moe_g.data(), &alpha, c->moe_u.data(), c->moe_g.data(), ff, p.swiglu_oai_limit};
    kiln_pool_run(alpha > 0.0f ? swiglu_oai_rows : silu_rows, &sj, cnt, rows_grain(ff));
    if (!matmul(c, expert_slice(L.ffn_down_exps, e, d), c->moe_g.data(), cnt, c->moe_y.data(), error, true)) return false;
    if (present(L.ffn_down_exps_b)) add_bias(c->moe_y.data(), expert_bias(L.ffn_down_exps_b, e, d), cnt, d);
    for (int32_t i = 0; i < cnt; i++) memcpy(c->moe_out.data() + (size_t)c->moe_list[b + i] * d, c->moe_y.data() + (size_t)i * d, d * sizeof(float));
  }
  // each expert's output times its weight, summed in the chosen order
  for (int32_t t = 0; t < n; t++) {
    float *o = out + (size_t)t * d;
    for (int32_t j = 0; j < k; j++) {
      const float wj = c->moe_w[(size_t)t * k + j];
      const float *y = c->moe_out.data() + ((size_t)t * k + j) * d;
      if (j == 0)
        for (int64_t i = 0; i < d; i++) o[i] = y[i] * wj;
      else
        for (int64_t i = 0; i < d; i++) {
          const float v = y[i] * wj;
          o[i] = o[i] + v;
        }
    }
  }
  if (!present(L.ffn_gate_inp_shexp)) return true;
  // the shared expert: a dense SwiGLU FFN scaled by sigmoid(gate), the sigmoid computed as
  // llama.cpp's graph does (silu(g) / g)
  const int64_t fs = p.n_ff_shexp;
  try {
    c->moe_g.resize((size_t)n * fs);
    c->moe_u.resize((size_t)n * fs);
    c->moe_y.resize((size_t)n * d);
    c->moe_logits.resize((size_t)n * (ne > 1 ? ne : 1));
  } catch (...) {
    *error = "out of memory for the shared expert";
    return false;
  }
  if (!matmul(c, L.ffn_gate_inp_shexp, xn, n, c->moe_logits.data(), error) || !matmul(c, L.ffn_gate_shexp, xn, n, c->moe_g.data(), error) ||
      !matmul(c, L.ffn_up_shexp, xn, n, c->moe_u.data(), error))
    return false;
  RowsJob sj{c->kt, c->moe_g.data(), nullptr, c->moe_u.data(), c->moe_g.data(), fs, 0};
  kiln_pool_run(silu_rows, &sj, n, rows_grain(fs));
  if (!matmul(c, L.ffn_down_shexp, c->moe_g.data(), n, c->moe_y.data(), error)) return false;
  for (int32_t t = 0; t < n; t++) {
    const float g = c->moe_logits[t];
    const float gate = (g / (1.0f + expf(-g))) / g;
    float *o = out + (size_t)t * d;
    const float *y = c->moe_y.data() + (size_t)t * d;
    for (int64_t i = 0; i < d; i++) {
      const float v = y[i] * gate;
      o[i] = o[i] + v;
    }
  }
  return true;
}

using kiln_weights::check_f32;
using kiln_weights::check_weight;

} // namespace

extern "C" kiln_llama_ctx *kiln_llama_new(const kiln_llama_model *m, const char **error) {
  const kiln_llama_params &p = m->p;
  *error = "bad hyperparameters";
  if (p.n_vocab <= 0 || p.n_embd <= 0 || p.n_layer <= 0 || p.n_head <= 0 || p.n_head_kv <= 0 || p.head_dim <= 0 ||
      p.n_ff <= 0 || p.n_ctx <= 0 || p.n_head % p.n_head_kv != 0 || p.n_rot <= 0 || p.n_rot > p.head_dim || p.n_rot % 2 ||
      !(p.rope_attn_factor > 0) || !isfinite(p.rope_attn_factor))
    return nullptr;
  if (!(p.embd_scale >= 0) || !(p.attn_q_scale >= 0) || !(p.attn_softcap >= 0) || !(p.final_softcap >= 0) || p.n_swa < 0 ||
      p.swa_pattern < 0 || (p.n_swa > 0 && !(p.rope_base_swa > 0 && p.rope_freq_scale_swa > 0)) || p.n_seq < 0 || p.n_seq > 256)
    return nullptr;
  if (!(p.swiglu_oai_alpha >= 0) || (p.swiglu_oai_alpha > 0 && !(p.swiglu_oai_limit > 0)) || !(p.yarn_ext_factor >= 0) ||
      (p.yarn_ext_factor > 0 && (!(p.yarn_beta_fast > 0) || !(p.yarn_beta_slow > 0) || p.yarn_orig_ctx < 1)))
    return nullptr;
  const int64_t qdim = (int64_t)p.n_head * p.head_dim, kvdim = (int64_t)p.n_head_kv * p.head_dim;
  if (!check_weight(m->tok_embd, p.n_embd, p.n_vocab, true, error)) return nullptr;
  if (!check_f32(m->output_norm, p.n_embd, true, error)) return nullptr;
  if (!check_weight(m->output, p.n_embd, p.n_vocab, false, error)) return nullptr;
  if (present(m->rope_freqs) && !check_f32(m->rope_freqs, p.n_rot / 2, true, error)) return nullptr;
  for (int32_t l = 0; l < p.n_layer; l++) {
    const kiln_llama_layer &L = m->layers[l];
    // a fused qkv replaces the three projections (and their biases); a missing gate means ffn_up holds gate and up
    const bool fused_qkv = present(L.wqkv), moe = is_moe(L), fused_up = !moe && !present(L.w_gate);
    if (fused_qkv && (present(L.wq) || present(L.wk) || present(L.wv) || present(L.bq) || present(L.bk) || present(L.bv))) {
      *error = "a layer has both a fused qkv and separate q/k/v tensors";
      return nullptr;
    }
    if (!check_f32(L.attn_norm, p.n_embd, true, error) ||
        (fused_qkv ? !check_weight(L.wqkv, p.n_embd, qdim + 2 * kvdim, true, error)
                   : !check_weight(L.wq, p.n_embd, qdim, true, error) || !check_weight(L.wk, p.n_embd, kvdim, true, error) ||
                         !check_weight(L.wv, p.n_embd, kvdim, true, error)) ||
        !check_weight(L.wo, qdim, p.n_embd, true, error) || !check_f32(L.bq, qdim, false, error) ||
        !check_f32(L.bk, kvdim, false, error) || !check_f32(L.bv, kvdim, false, error) ||
        !check_f32(L.attn_q_norm, p.head_dim, false, error) || !check_f32(L.attn_k_norm, p.head_dim, false, error) ||
        !check_f32(L.ffn_norm, p.n_embd, true, error) || !check_weight(L.w_gate, p.n_embd, p.n_ff, false, error) ||
        !check_weight(L.w_up, p.n_embd, fused_up ? 2 * (int64_t)p.n_ff : p.n_ff, !moe, error) ||
        !check_weight(L.w_down, p.n_ff, p.n_embd, !moe, error) ||
        !check_f32(L.attn_post_norm, p.n_embd, false, error) || !check_f32(L.ffn_post_norm, p.n_embd, false, error) ||
        !check_f32(L.attn_sinks, p.n_head, false, error) || !check_f32(L.bo, p.n_embd, false, error))
      return nullptr;
    if (moe) {
      if (present(L.w_gate) || present(L.w_up) || present(L.w_down)) {
        *error = "a layer has both a dense FFN and experts";
        return nullptr;
      }
      if (p.n_expert < 1 || p.n_expert_used < 1 || p.n_expert_used > p.n_expert || p.n_ff_exp < 1 || p.n_ff_shexp < 0 ||
          p.expert_gating < KILN_GATING_SOFTMAX || p.expert_gating > KILN_GATING_SOFTMAX_WEIGHT || !(p.expert_weights_scale >= 0)) {
        *error = "bad mixture-of-experts hyperparameters";
        return nullptr;
      }
      const int64_t ff_all = (int64_t)p.n_ff_exp * p.n_expert, d_all = (int64_t)p.n_embd * p.n_expert;
      const bool shared = present(L.ffn_gate_inp_shexp);
      if (!check_weight(L.ffn_gate_inp, p.n_embd, p.n_expert, true, error) ||
          !check_weight(L.ffn_gate_exps, p.n_embd, ff_all, true, error) || !check_weight(L.ffn_up_exps, p.n_embd, ff_all, true, error) ||
          !check_weight(L.ffn_down_exps, p.n_ff_exp, d_all, true, error) || !check_f32(L.ffn_gate_inp_shexp, p.n_embd, false, error) ||
          (shared && p.n_ff_shexp < 1) || !check_weight(L.ffn_gate_shexp, p.n_embd, p.n_ff_shexp, shared, error) ||
          !check_weight(L.ffn_up_shexp, p.n_embd, p.n_ff_shexp, shared, error) ||
          !check_weight(L.ffn_down_shexp, p.n_ff_shexp, p.n_embd, shared, error) ||
          !check_f32(L.ffn_gate_inp_b, p.n_expert, false, error) || !check_f32(L.ffn_gate_exps_b, ff_all, false, error) ||
          !check_f32(L.ffn_up_exps_b, ff_all, false, error) || !check_f32(L.ffn_down_exps_b, d_all, false, error))
        return nullptr;
    } else if (present(L.ffn_gate_exps) || present(L.ffn_up_exps) || present(L.ffn_down_exps) || present(L.ffn_gate_inp_shexp) ||
               present(L.ffn_gate_inp_b) || present(L.ffn_gate_exps_b) || present(L.ffn_up_exps_b) || present(L.ffn_down_exps_b)) {
      *error = "a layer has expert tensors but no router (ffn_gate_inp)";
      return nullptr;
    }
  }
  kiln_llama_ctx *c = new (std::nothrow) kiln_llama_ctx();
  if (!c) {
    *error = "out of memory";
    return nullptr;
  }
  try {
    c->m = *m;
    if (p.yarn_ext_factor != 0.0f) {
      // llama.cpp's YaRN attention factor: its magnitude correction 1 + 0.1 ln(factor), divided by the one
      // ggml's rope applies again (so ~1), times the model's own attn_factor, all in float
      const float factor = 1.0f / p.rope_freq_scale;
      float af = factor <= 1.0f ? 1.0f : 0.1f * 1.0f * logf(factor) + 1.0f;
      af *= 1.0f / (1.0f + 0.1f * logf(factor));
      c->m.p.rope_attn_factor = af * p.rope_attn_factor;
    }
    c->layers.assign(m->layers, m->layers + p.n_layer);
    c->m.layers = c->layers.data();
    const kiln_variant v = (kiln_variant)p.variant;
    c->kt = kiln_kernels_for(kiln_variant_supported(v) ? v : kiln_best_variant());
    c->kv_dim = kvdim;
    const int base = p.kv_cache == kiln_kv_cache::f16 ? KILN_TYPE_F16 : KILN_TYPE_F32;
    c->type_k = p.kv_type_k != 0 ? p.kv_type_k : base;
    c->type_v = p.kv_type_v != 0 ? p.kv_type_v : base;
    c->kv_quant = c->type_k != base || c->type_v != base;
    if (c->kv_quant) {
      const char *bad = base != KILN_TYPE_F16 ? "a quantized KV cache needs kv_cache f16" : nullptr;
      for (int t : {c->type_k, c->type_v})
        if (!bad && t != KILN_TYPE_F16 && t != KILN_TYPE_Q8_0 && t != KILN_TYPE_Q4_0) bad = "a KV cache type must be f16, q8_0 or q4_0";
      if (!bad && p.head_dim % 32 != 0) bad = "a quantized KV cache needs head_dim a multiple of 32";
      if (!bad && p.attn_unfused) bad = "a quantized KV cache needs flash attention, which this model's attention does not use";
      if (bad) {
        delete c;
        *error = bad;
        return nullptr;
      }
    }
    c->krow = kiln_row_size(c->type_k, kvdim);
    c->vrow = kiln_row_size(c->type_v, kvdim);
    c->khead = kiln_row_size(c->type_k, p.head_dim);
    c->vhead = kiln_row_size(c->type_v, p.head_dim);
    c->n_seq = p.n_seq > 0 ? p.n_seq : 1;
    c->n_past.assign((size_t)c->n_seq, 0);
    c->gpu_first = p.n_layer;
#if KILN_HAVE_VULKAN
    // the device holds every sequence's cache for its layers, in f16: a quantized cache keeps every layer on the CPU
    bool sinks = false; // the device's attention has no sinks: such a model stays on the CPU
    for (int32_t l = 0; l < p.n_layer; l++) sinks = sinks || present(m->layers[l].attn_sinks) || present(m->layers[l].bo) ||
                                                    present(m->layers[l].ffn_gate_exps_b) || p.swiglu_oai_alpha > 0;
    if (p.n_gpu_layers > 0 && !c->kv_quant && !sinks) {
      const int32_t first = p.n_gpu_layers >= p.n_layer ? 0 : p.n_layer - p.n_gpu_layers;
      c->gpu = kiln_vk_offload_new(&c->m, first, error);
      if (!c->gpu && *error) {
        delete c;
        return nullptr;
      }
      if (c->gpu) c->gpu_first = first;
    }
#endif
    // [seq][layer][pos]: the CPU layers only
    c->cpu_layers = c->gpu_first;
    const size_t rows = (size_t)c->n_seq * (size_t)c->gpu_first * (size_t)p.n_ctx;
    c->kc.assign(rows * c->krow, 0);
    c->vc.assign(rows * c->vrow, 0);
  } catch (...) {
    delete c;
    *error = "out of memory for the KV cache";
    return nullptr;
  }
  *error = nullptr;
  return c;
}

extern "C" void kiln_llama_free(kiln_llama_ctx *c) { delete c; }

extern "C" int32_t kiln_llama_gpu_layers(const kiln_llama_ctx *c, uint64_t *device_bytes, int32_t *output) {
  *device_bytes = 0;
  if (output) *output = 0;
#if KILN_HAVE_VULKAN
  if (c->gpu) *device_bytes = kiln_vk_offload_bytes(c->gpu);
  if (c->gpu && output) *output = kiln_vk_offload_has_output(c->gpu);
#endif
  return c->m.p.n_layer - c->gpu_first;
}

extern "C" void kiln_llama_truncate(kiln_llama_ctx *c, int32_t seq, int32_t pos) {
  if (seq < 0 || seq >= c->n_seq) return;
  if (pos < 0) pos = 0;
  if (pos < c->n_past[seq]) c->n_past[seq] = pos;
}

extern "C" int32_t kiln_llama_seq_len(const kiln_llama_ctx *c, int32_t seq) {
  return seq >= 0 && seq < c->n_seq ? c->n_past[seq] : 0;
}

namespace {

uint8_t *kv_ptr(kiln_llama_ctx *c, bool value, size_t row) { return value ? v_at(c, row) : k_at(c, row); }
size_t kv_rows_bytes(const kiln_llama_ctx *c, bool value, int32_t n) { return (size_t)n * (value ? c->vrow : c->krow); }

} // namespace

extern "C" size_t kiln_llama_kv_bytes(const kiln_llama_ctx *c, int32_t n) {
  return (size_t)c->m.p.n_layer * (size_t)(n > 0 ? n : 0) * (c->krow + c->vrow);
}

extern "C" int kiln_llama_kv_save(const kiln_llama_ctx *c, int32_t seq, int32_t pos0, int32_t n, void *dst, const char **error) {
  if (seq < 0 || seq >= c->n_seq || pos0 < 0 || n < 0 || (int64_t)pos0 + n > c->n_past[seq]) {
    *error = "the positions to save are not in the sequence's cache";
    return -1;
  }
  if (c->gpu_first < c->m.p.n_layer) {
    *error = "the KV cache of offloaded layers is on the GPU: it cannot be saved";
    return -1;
  }
  kiln_llama_ctx *mc = const_cast<kiln_llama_ctx *>(c); // read only
  uint8_t *d = static_cast<uint8_t *>(dst);
  for (int32_t l = 0; l < c->m.p.n_layer; l++)
    for (int kv = 0; kv < 2; kv++) {
      const size_t bytes = kv_rows_bytes(c, kv == 1, n);
      memcpy(d, kv_ptr(mc, kv == 1, kv_off(c, seq, l, pos0)), bytes);
      d += bytes;
    }
  *error = nullptr;
  return 0;
}

extern "C" int kiln_llama_kv_load(kiln_llama_ctx *c, int32_t seq, int32_t pos0, int32_t n, const void *src, const char **error) {
  if (seq < 0 || seq >= c->n_seq || pos0 < 0 || n < 0 || pos0 > c->n_past[seq] || (int64_t)pos0 + n > c->m.p.n_ctx) {
    *error = "the positions to load do not continue the sequence's cache inside the context";
    return -1;
  }
  if (c->gpu_first < c->m.p.n_layer) {
    *error = "the KV cache of offloaded layers is on the GPU: it cannot be loaded";
    return -1;
  }
  const uint8_t *s = static_cast<const uint8_t *>(src);
  for (int32_t l = 0; l < c->m.p.n_layer; l++)
    for (int kv = 0; kv < 2; kv++) {
      const size_t bytes = kv_rows_bytes(c, kv == 1, n);
      memcpy(kv_ptr(c, kv == 1, kv_off(c, seq, l, pos0)), s, bytes);
      s += bytes;
    }
  c->n_past[seq] = pos0 + n;
  *error = nullptr;
  return 0;
}

extern "C" int32_t kiln_llama_shift(kiln_llama_ctx *c, int32_t seq, int32_t keep, int32_t discard, const char **error) {
  const kiln_llama_params &p = c->m.p;
  if (seq < 0 || seq >= c->n_seq) {
    *error = "no such sequence";
    return -1;
  }
  if (keep < 0 || discard < 1 || (int64_t)keep + discard > c->n_past[seq]) {
    *error = "shift range is not inside the cached positions";
    return -1;
  }
  const int32_t moved = c->n_past[seq] - keep - discard;
  const int64_t kvdim = c->kv_dim;
  std::vector<float> cs, cs_swa, row((size_t)kvdim);
  try {
    const float *ff = present(c->m.rope_freqs) ? static_cast<const float *>(c->m.rope_freqs.data) : nullptr;
    const int32_t back = -discard;
    // llama.cpp's K shift passes attn_factor to its RoPE too, so shifted keys are scaled by it once more
    rope_table(cs, 1, &back, p.n_rot, p.rope_base, p.rope_freq_scale, ff, p.rope_attn_factor,
               yarn_for(p, p.rope_base, p.rope_freq_scale));
    // sliding-window layers rotate with their own base and scale
    if (p.n_swa > 0)
      rope_table(cs_swa, 1, &back, p.n_rot, p.rope_base_swa, p.rope_freq_scale_swa, ff, p.rope_attn_factor,
                 yarn_for(p, p.rope_base_swa, p.rope_freq_scale_swa));
  } catch (...) {
    *error = "out of memory";
    return -1;
  }
#if KILN_HAVE_VULKAN
  if (c->gpu && kiln_vk_offload_shift(c->gpu, seq, keep, discard, c->n_past[seq], cs.data(), p.n_swa > 0 ? cs_swa.data() : nullptr,
                                      error) != 0)
    return -1;
#endif
  for (int32_t l = 0; l < c->gpu_first; l++) {
    const float *lcs = is_swa(p, l) ? cs_swa.data() : cs.data();
    for (int32_t i = 0; i < moved; i++) {
      const size_t from = kv_off(c, seq, l, keep + discard + i);
      const size_t to = kv_off(c, seq, l, keep + i);
      // a key in a block format is dequantized, rotated and quantized again, as llama.cpp's K shift does
      if (c->type_k == KILN_TYPE_F32)
        memcpy(row.data(), k_at(c, from), (size_t)kvdim * sizeof(float));
      else
        kiln_type_traits_of(c->type_k)->to_float(k_at(c, from), row.data(), kvdim);
      for (int32_t h = 0; h < p.n_head_kv; h++) rope(row.data() + (int64_t)h * p.head_dim, p.n_rot, lcs, p.rope_neox);
      kv_store(c, c->type_k, row.data(), k_at(c, to), kvdim);
      memmove(v_at(c, to), v_at(c, from), c->vrow);
    }
  }
  c->n_past[seq] = keep + moved;
  *error = nullptr;
  return c->n_past[seq];
}

extern "C" const float *kiln_llama_hidden(const kiln_llama_ctx *c, int32_t *n_tokens) {
#if KILN_HAVE_VULKAN
  if (c->hidden_on_device) { // fetched on first use: a decode step that only wants logits never moves them
    kiln_llama_ctx *mc = const_cast<kiln_llama_ctx *>(c);
    mc->hidden_on_device = false;
    const char *error = nullptr;
    try {
      mc->hidden.resize((size_t)c->hidden_n * c->m.p.n_embd);
    } catch (...) {
      mc->hidden_n = 0;
    }
    if (c->hidden_n && kiln_vk_offload_hidden(mc->gpu, mc->hidden.data(), c->hidden_n, &error) != 0) mc->hidden_n = 0;
  }
#endif
  *n_tokens = c->hidden_n;
  return c->hidden.data();
}

namespace {

// One sequence's run of consecutive entries in a batch.
struct Run {
  int32_t seq, pos0, t0, n;
};

} // namespace

extern "C" int kiln_llama_decode(kiln_llama_ctx *c, const int32_t *tokens, const int32_t *pos, const int32_t *seq, int32_t n,
                                 const int32_t *out, int32_t n_out, float *logits, const char **error) {
  const kiln_llama_model &m = c->m;
  const kiln_llama_params &p = m.p;
  if (n <= 0) {
    *error = "empty batch";
    return -1;
  }
  // split the batch into runs, one per sequence, each continuing that sequence's cache
  std::vector<Run> runs;
  try {
    for (int32_t t = 0; t < n; t++) {
      if (tokens[t] < 0 || tokens[t] >= p.n_vocab) {
        *error = "token id out of range";
        return -1;
      }
      if (seq[t] < 0 || seq[t] >= c->n_seq) {
        *error = "sequence id out of range";
        return -1;
      }
      if (!runs.empty() && runs.back().seq == seq[t]) {
        if (pos[t] != runs.back().pos0 + runs.back().n) {
          *error = "positions of a sequence in the batch are not consecutive";
          return -1;
        }
        runs.back().n++;
        continue;
      }
      for (const Run &r : runs)
        if (r.seq == seq[t]) {
          *error = "a sequence appears in two runs of the batch";
          return -1;
        }
      if (pos[t] < 0 || pos[t] > c->n_past[seq[t]]) {
        *error = "batch does not continue the cached sequence";
        return -1;
      }
      runs.push_back(Run{seq[t], pos[t], t, 1});
    }
  } catch (...) {
    *error = "out of memory for the batch";
    return -1;
  }
  for (const Run &r : runs)
    if ((int64_t)r.pos0 + r.n > p.n_ctx) {
      *error = "context is full";
      return -1;
    }
  for (int32_t i = 0; i < n_out; i++)
    if (out[i] < 0 || out[i] >= n) {
      *error = "an output index is outside the batch";
      return -1;
    }
  const int64_t d = p.n_embd, qdim = (int64_t)p.n_head * p.head_dim, kvdim = c->kv_dim, ff = p.n_ff;
  const float *ff_factors = present(m.rope_freqs) ? static_cast<const float *>(m.rope_freqs.data) : nullptr;
  const bool unfused = p.attn_unfused && p.kv_cache == kiln_kv_cache::f16;
  // a run attends row by row when it is one token, or short enough that llama.cpp does not tile it
  auto rowwise = [&](const Run &r) {
    // (llama.cpp never tiles a quantized cache)
    return r.n == 1 || unfused || c->kv_quant || (p.kv_cache == kiln_kv_cache::f16 && r.n < kLlamaCppTiledQueries);
  };
  int32_t max_pos = 0;
  try {
    rope_table(c->rope_cs, n, pos, p.n_rot, p.rope_base, p.rope_freq_scale, ff_factors, p.rope_attn_factor,
               yarn_for(p, p.rope_base, p.rope_freq_scale));
    if (p.n_swa > 0)
      rope_table(c->rope_cs_swa, n, pos, p.n_rot, p.rope_base_swa, p.rope_freq_scale_swa, ff_factors, p.rope_attn_factor,
                 yarn_for(p, p.rope_base_swa, p.rope_freq_scale_swa));
    c->row_tokens.clear();
    for (const Run &r : runs)
      if (rowwise(r)) {
        for (int32_t t = r.t0; t < r.t0 + r.n; t++) c->row_tokens.push_back(t);
        if (r.pos0 + r.n > max_pos) max_pos = r.pos0 + r.n;
      }
    c->x.resize(n * d);
    c->xn.resize(n * d);
    c->q.resize(n * qdim);
    c->k.resize(n * kvdim);
    c->v.resize(n * kvdim);
    c->att.resize(n * qdim);
    bool fused_qkv = false, fused_up = false;
    for (int32_t l = 0; l < p.n_layer; l++) {
      fused_qkv = fused_qkv || present(m.layers[l].wqkv);
      fused_up = fused_up || (!is_moe(m.layers[l]) && !present(m.layers[l].w_gate));
    }
    if (fused_qkv) c->qkv.resize(n * (qdim + 2 * kvdim));
    c->ffg.resize(n * ff * (fused_up ? 2 : 1));
    c->ffu.resize(n * ff);
    c->tmp.resize(n * (d > qdim ? d : qdim));
    if (c->route_trace) {
      c->trace_sel.assign((size_t)n * p.n_layer * (p.n_expert_used > 0 ? p.n_expert_used : 1), -1);
      c->trace_margin.assign((size_t)n * p.n_layer, INFINITY);
    }
  } catch (...) {
    *error = "out of memory for the batch";
    return -1;
  }
  // the runs start where they say: positions after them are forgotten
  for (const Run &r : runs) c->n_past[r.seq] = r.pos0;
  c->pos = pos;
  c->seq = seq;
  // token embeddings: one dequantized row each
  const kiln_type_traits *et = kiln_type_traits_of(m.tok_embd.type);
  const size_t erow = kiln_row_size(m.tok_embd.type, d);
  for (int32_t t = 0; t < n; t++)
    et->to_float(static_cast<const uint8_t *>(m.tok_embd.data) + (size_t)tokens[t] * erow, c->x.data() + t * d, d);
  if (p.embd_scale != 0.0f)
    for (int64_t i = 0; i < n * d; i++) c->x[i] *= p.embd_scale;

  c->hidden_on_device = false;
  int device_logits = 0; // 1: the device wrote the logits (its output projection)
  for (int32_t l = 0; l < p.n_layer; l++) {
#if KILN_HAVE_VULKAN
    if (l == c->gpu_first) { // the rest of the layers on the device, in one submit
      device_logits = kiln_vk_offload_eval(c->gpu, c->x.data(), n, pos, seq, c->rope_cs.data(),
                                           p.n_swa > 0 ? c->rope_cs_swa.data() : nullptr, out, n_out, logits, error);
      if (device_logits < 0) return -1;
      break;
    }
#endif
    const kiln_llama_layer &L = m.layers[l];
    rmsnorm(c, c->x.data(), L.attn_norm, n, d, c->xn.data());
    if (present(L.wqkv)) {
      // one matmul, then each token's row split into its q, k and v parts
      if (!matmul(c, L.wqkv, c->xn.data(), n, c->qkv.data(), error)) return -1;
      const int64_t row = qdim + 2 * kvdim;
      for (int32_t t = 0; t < n; t++) {
        const float *r = c->qkv.data() + t * row;
        memcpy(c->q.data() + t * qdim, r, qdim * sizeof(float));
        memcpy(c->k.data() + t * kvdim, r + qdim, kvdim * sizeof(float));
        memcpy(c->v.data() + t * kvdim, r + qdim + kvdim, kvdim * sizeof(float));
      }
    } else if (!matmul(c, L.wq, c->xn.data(), n, c->q.data(), error) || !matmul(c, L.wk, c->xn.data(), n, c->k.data(), error) ||
               !matmul(c, L.wv, c->xn.data(), n, c->v.data(), error)) {
      return -1;
    }
    add_bias(c->q.data(), L.bq, n, qdim);
    add_bias(c->k.data(), L.bk, n, kvdim);
    add_bias(c->v.data(), L.bv, n, kvdim);
    // per-head RMSNorm of q and k (each head_dim-long row of the batch)
    if (present(L.attn_q_norm)) rmsnorm(c, c->q.data(), L.attn_q_norm, n * p.n_head, p.head_dim, c->q.data());
    if (present(L.attn_k_norm)) rmsnorm(c, c->k.data(), L.attn_k_norm, n * p.n_head_kv, p.head_dim, c->k.data());
    const bool swa = is_swa(p, l);
    const float *sinks = present(L.attn_sinks) ? static_cast<const float *>(L.attn_sinks.data) : nullptr;
    const std::vector<float> &rope_cs = swa ? c->rope_cs_swa : c->rope_cs;
    for (int32_t t = 0; t < n; t++) {
      const float *cs = rope_cs.data() + (size_t)t * p.n_rot;
      for (int32_t h = 0; h < p.n_head; h++) rope(c->q.data() + t * qdim + (int64_t)h * p.head_dim, p.n_rot, cs, p.rope_neox);
      for (int32_t h = 0; h < p.n_head_kv; h++) rope(c->k.data() + t * kvdim + (int64_t)h * p.head_dim, p.n_rot, cs, p.rope_neox);
      if (p.attn_q_scale != 0.0f)
        for (int64_t i = 0; i < qdim; i++) c->q[t * qdim + i] *= p.attn_q_scale;
      const size_t row = kv_off(c, seq[t], l, pos[t]);
      kv_store(c, c->type_k, c->k.data() + t * kvdim, k_at(c, row), kvdim);
      kv_store(c, c->type_v, c->v.data() + t * kvdim, v_at(c, row), kvdim);
    }
    if (!c->row_tokens.empty()) {
      const int mode = p.kv_cache != kiln_kv_cache::f16 ? KILN_KV_F32 : unfused ? KILN_KV_F16_MM : KILN_KV_F16_ACC16;
      AttnJob aj{c, l, mode, swa ? p.n_swa : 0, sinks};
      // ~head_dim * positions multiply-adds per head, twice; below ~64k per chunk the pool costs more than it saves
      const int64_t per_row = (int64_t)p.head_dim * max_pos;
      kiln_pool_run(attn_rows, &aj, (int64_t)c->row_tokens.size() * p.n_head, per_row >= 65536 ? 1 : 65536 / per_row);
    }
    for (const Run &r : runs) {
      if (rowwise(r)) continue;
      // ~16 queries per item: enough to amortize converting the cache rows
      const int32_t group = p.n_head / p.n_head_kv, tb = group >= 16 ? 1 : 16 / group;
      const int64_t blocks = (r.n + tb - 1) / tb;
      AttnBatchJob bj{c, l, r.n, r.pos0, tb, r.seq, r.t0, blocks, swa ? p.n_swa : 0, sinks};
      kiln_pool_run(attn_batch_rows, &bj, blocks * p.n_head_kv, 1);
    }
    if (!matmul(c, L.wo, c->att.data(), n, c->tmp.data(), error)) return -1;
    add_bias(c->tmp.data(), L.bo, n, d);
    if (present(L.attn_post_norm)) rmsnorm(c, c->tmp.data(), L.attn_post_norm, n, d, c->tmp.data());
    for (int64_t i = 0; i < n * d; i++) c->x[i] += c->tmp[i];

    rmsnorm(c, c->x.data(), L.ffn_norm, n, d, c->xn.data());
    const float *ffn_act = nullptr;
    if (is_moe(L)) {
      if (!moe_ffn(c, l, L, c->xn.data(), n, c->tmp.data(), error)) return -1;
    } else if (!present(L.w_gate)) {
      // ffn_up holds gate and up (phi3): one matmul, then silu(gate) * up into ffu
      if (!matmul(c, L.w_up, c->xn.data(), n, c->ffg.data(), error)) return -1;
      RowsJob sj{c->kt, c->ffg.data(), nullptr, nullptr, c->ffu.data(), ff, 0};
      kiln_pool_run(silu_fused_rows, &sj, n, rows_grain(2 * ff));
      ffn_act = c->ffu.data();
    } else {
      if (!matmul(c, L.w_gate, c->xn.data(), n, c->ffg.data(), error) || !matmul(c, L.w_up, c->xn.data(), n, c->ffu.data(), error))
        return -1;
      RowsJob sj{c->kt, c->ffg.data(), nullptr, c->ffu.data(), c->ffg.data(), ff, 0};
      kiln_pool_run(p.ffn_gelu ? gelu_rows : silu_rows, &sj, n, rows_grain(ff));
      ffn_act = c->ffg.data();
    }
    if (!is_moe(L) && !matmul(c, L.w_down, ffn_act, n, c->tmp.data(), error)) return -1;
    if (present(L.ffn_post_norm)) rmsnorm(c, c->tmp.data(), L.ffn_post_norm, n, d, c->tmp.data());
    for (int64_t i = 0; i < n * d; i++) c->x[i] += c->tmp[i];
  }
  for (const Run &r : runs) c->n_past[r.seq] = r.pos0 + r.n;
  c->pos = c->seq = nullptr;
  auto final_softcap = [&]() {
    if (p.final_softcap == 0.0f) return;
    // as llama.cpp's graph: scale by 1/cap, tanh, scale by cap
    const float inv = 1.0f / p.final_softcap;
    for (int64_t i = 0; i < (int64_t)n_out * p.n_vocab; i++) logits[i] = tanhf(logits[i] * inv) * p.final_softcap;
  };
  if (device_logits == 1) {
    c->hidden_n = n;
    c->hidden_on_device = true;
    final_softcap();
    return 0;
  }

  try {
    c->hidden.resize((size_t)n * d);
  } catch (...) {
    *error = "out of memory";
    return -1;
  }
  rmsnorm(c, c->x.data(), m.output_norm, n, d, c->hidden.data());
  c->hidden_n = n;
  if (!logits || n_out <= 0) return 0;
  // the rows asked for, contiguous in the hidden states already or gathered
  bool contiguous = true;
  for (int32_t i = 1; i < n_out; i++) contiguous = contiguous && out[i] == out[0] + i;
  const float *rows = c->hidden.data() + (int64_t)out[0] * d;
  if (!contiguous) {
    try {
      c->gathered.resize((size_t)n_out * d);
    } catch (...) {
      *error = "out of memory";
      return -1;
    }
    for (int32_t i = 0; i < n_out; i++) memcpy(c->gathered.data() + (int64_t)i * d, c->hidden.data() + (int64_t)out[i] * d, d * sizeof(float));
    rows = c->gathered.data();
  }
  const kiln_weight &ow = present(m.output) ? m.output : m.tok_embd;
  if (!matmul(c, ow, rows, n_out, logits, error)) return -1;
  final_softcap();
  return 0;
}

extern "C" void kiln_llama_observe(kiln_llama_ctx *c, kiln_matmul_observer f, void *user) {
  c->observe = f;
  c->observe_user = user;
}

extern "C" int kiln_llama_eval(kiln_llama_ctx *c, const int32_t *tokens, int32_t n, int32_t pos0, float *logits,
                               int32_t all_logits, const char **error) {
  if (n <= 0) {
    *error = "empty batch";
    return -1;
  }
  std::vector<int32_t> pos, seq, out;
  try {
    pos.resize((size_t)n);
    seq.assign((size_t)n, 0);
    for (int32_t t = 0; t < n; t++) pos[t] = pos0 + t;
    if (all_logits) {
      out.resize((size_t)n);
      for (int32_t t = 0; t < n; t++) out[t] = t;
    } else {
      out.assign(1, n - 1);
    }
  } catch (...) {
    *error = "out of memory for the batch";
    return -1;
  }
  return kiln_llama_decode(c, tokens, pos.data(), seq.data(), n, out.data(), (int32_t)out.size(), logits, error);
}

extern "C" void kiln_llama_route_trace(kiln_llama_ctx *c, int32_t on) {
  c->route_trace = on != 0;
  if (!on) {
    c->trace_sel.clear();
    c->trace_margin.clear();
  }
}

extern "C" int32_t kiln_llama_route_get(const kiln_llama_ctx *c, const int32_t **sel, const float **margin) {
  *sel = c->trace_sel.data();
  *margin = c->trace_margin.data();
  return (int32_t)c->trace_margin.size();
}
