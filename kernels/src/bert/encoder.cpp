// The BERT-family encoder. Numerics follow llama.cpp's CPU backend where they
// matter: LayerNorm sums in double, GELU through ggml's binary16 table
// (ref/gelu.h), and attention over K and V rounded to binary16 as its flash
// attention does for inputs without a KV cache (binary16 sums below 64
// queries, f32 tiles from there on, as in llama/forward.cpp).
#include "encoder.h"

#include <math.h>
#include <string.h>

#include <new>
#include <vector>

#include "../ops.h"
#include "../pool.h"
#include "../weight_check.h"
#include "../quants.h"
#include "../ref/gelu.h"
#include "../ref/half.h"
#include "../ref/llama_ops.h"
#include "../ref/rope.h"
#include "../variant.h"

struct kiln_bert_ctx {
  kiln_bert_model m;
  std::vector<kiln_bert_layer> layers;
  const kiln_kernel_table *kt;
  kiln_variant variant;
  int64_t qdim = 0, kvdim = 0, n_cls_out = 0;
  // scratch, sized for the largest input seen
  std::vector<float> x, cur, qkv, q, k, v, att, up, gate, tmp, row, rope_cs;
  std::vector<uint16_t> k16, v16;
};

namespace {

bool present(const kiln_weight &w) { return w.data != nullptr; }

const float *f32(const kiln_weight &w) { return static_cast<const float *>(w.data); }

bool matmul(kiln_bert_ctx *c, const kiln_weight &w, const float *x, int32_t n, float *y, const char **error) {
  if (kiln_matmul(c->variant, w.type, w.data, w.ne1, w.ne0, x, n, y) != 0) {
    *error = "weight type has no dot product kernel";
    return false;
  }
  return true;
}

void add_bias(float *y, const kiln_weight &b, int32_t n, int64_t d) {
  if (!present(b)) return;
  const float *bb = f32(b);
  for (int32_t t = 0; t < n; t++)
    for (int64_t i = 0; i < d; i++) y[t * d + i] += bb[i];
}

// One dequantized row of an embedding table, added to out.
void add_row(const kiln_weight &w, int64_t r, int64_t d, float *scratch, float *out) {
  kiln_type_traits_of(w.type)->to_float(static_cast<const uint8_t *>(w.data) + (size_t)r * kiln_row_size(w.type, d), scratch, d);
  for (int64_t i = 0; i < d; i++) out[i] += scratch[i];
}

// --- LayerNorm: (x - mean) / sqrt(var + eps) * w + b, row by row ------------

struct NormJob {
  const float *x;
  float *out;
  const float *w, *b;
  int64_t d;
  float eps;
};

void norm_rows(void *ctx, int64_t b, int64_t e) {
  const NormJob &j = *static_cast<const NormJob *>(ctx);
  for (int64_t t = b; t < e; t++) {
    const float *x = j.x + t * j.d;
    float *y = j.out + t * j.d;
    double sum = 0;
    for (int64_t i = 0; i < j.d; i++) sum += (double)x[i];
    const float mean = (float)sum / (float)j.d;
    double var = 0;
    for (int64_t i = 0; i < j.d; i++) {
      const float c = x[i] - mean;
      y[i] = c;
      var += (double)(c * c);
    }
    const float scale = 1.0f / sqrtf((float)(var / (double)j.d) + j.eps);
    for (int64_t i = 0; i < j.d; i++) y[i] = y[i] * scale * j.w[i] + (j.b ? j.b[i] : 0.0f);
  }
}

int64_t rows_grain(int64_t d) { return d >= 65536 ? 1 : 65536 / d; }

void layer_norm(const float *x, const kiln_weight &w, const kiln_weight &b, int32_t n, int64_t d, float eps, float *out) {
  NormJob j{x, out, f32(w), present(b) ? f32(b) : nullptr, d, eps};
  kiln_pool_run(norm_rows, &j, n, rows_grain(d));
}

// --- feed-forward activations -------------------------------------------------

struct ActJob {
  const kiln_kernel_table *kt;
  float *g;
  const float *u;
  int64_t d;
};

void gelu_rows(void *ctx, int64_t b, int64_t e) {
  const ActJob &j = *static_cast<const ActJob *>(ctx);
  kiln_gelu_rows(j.g + b * j.d, j.g + b * j.d, (e - b) * j.d);
}

void silu_rows(void *ctx, int64_t b, int64_t e) {
  const ActJob &j = *static_cast<const ActJob *>(ctx);
  for (int64_t t = b; t < e; t++) j.kt->silu_mul(j.g + t * j.d, j.u + t * j.d, j.g + t * j.d, j.d);
}

// --- rotary positions (NEOX: the two halves of each head rotate together) ------

void rope_table(std::vector<float> &cs, int32_t n, int32_t n_rot, float base, float freq_scale) {
  const int32_t half = n_rot / 2;
  cs.resize((size_t)n * half * 2);
  const float step = powf(base, -2.0f / (float)n_rot);
  for (int32_t t = 0; t < n; t++) {
    float theta = (float)t;
    float *row = cs.data() + (size_t)t * half * 2;
    for (int32_t i = 0; i < half; i++) {
      const float a = theta * freq_scale;
      row[2 * i] = cosf(a);
      row[2 * i + 1] = sinf(a);
      theta *= step;
    }
  }
}

// rounded as llama.cpp's CPU builds round it (ref/rope.h)
void rope_neox(float *v, int32_t n_rot, const float *cs) {
  const int32_t half = n_rot / 2;
  const bool fused = kiln_rope_fused();
  for (int32_t i = 0; i < half; i++) kiln_rope_pair(v, i, i + half, cs[2 * i], cs[2 * i + 1], fused);
}

// --- attention: every query sees every position --------------------------------

constexpr int32_t kTiledQueries = 64;

struct AttnJob {
  kiln_bert_ctx *c;
  int32_t n;
};

// Short inputs: one item per (token, head), binary16 sums.
void attn_rows(void *ctx, int64_t b, int64_t e) {
  const AttnJob &j = *static_cast<const AttnJob *>(ctx);
  kiln_bert_ctx *c = j.c;
  const kiln_bert_params &p = c->m.p;
  const int32_t hd = p.head_dim, group = p.n_head / p.n_head_kv;
  thread_local std::vector<float> scores;
  const size_t need = kiln_attn_scratch(j.n, hd);
  if (scores.size() < need) scores.resize(need);
  for (int64_t row = b; row < e; row++) {
    const int32_t t = (int32_t)(row / p.n_head), h = (int32_t)(row % p.n_head);
    const size_t off = (size_t)(h / group) * hd;
    c->kt->attn(c->q.data() + t * c->qdim + (int64_t)h * hd, c->k16.data() + off, c->v16.data() + off, (size_t)c->kvdim, j.n, hd,
                1.0f / sqrtf((float)hd), 0.0f, KILN_KV_F16_ACC16, scores.data(), c->att.data() + t * c->qdim + (int64_t)h * hd);
  }
}

// Long inputs: one item per KV head and block of tokens, f32 sums.
struct AttnBatchJob {
  kiln_bert_ctx *c;
  int32_t n, tb;
};

void attn_batch_rows(void *ctx, int64_t b, int64_t e) {
  const AttnBatchJob &j = *static_cast<const AttnBatchJob *>(ctx);
  kiln_bert_ctx *c = j.c;
  const kiln_bert_params &p = c->m.p;
  const int32_t hd = p.head_dim, group = p.n_head / p.n_head_kv;
  thread_local std::vector<const float *> qs;
  thread_local std::vector<float *> outs;
  thread_local std::vector<int32_t> nkv;
  thread_local std::vector<float> scratch;
  for (int64_t item = b; item < e; item++) {
    const int32_t g = (int32_t)(item % p.n_head_kv);
    const int32_t t0 = (int32_t)(item / p.n_head_kv) * j.tb;
    const int32_t t1 = t0 + j.tb < j.n ? t0 + j.tb : j.n;
    qs.clear();
    outs.clear();
    nkv.clear();
    for (int32_t t = t0; t < t1; t++)
      for (int32_t h = g * group; h < (g + 1) * group; h++) {
        qs.push_back(c->q.data() + t * c->qdim + (int64_t)h * hd);
        outs.push_back(c->att.data() + t * c->qdim + (int64_t)h * hd);
        nkv.push_back(j.n);
      }
    const size_t need = kiln_attn_batch_scratch((int)qs.size(), j.n, hd);
    if (scratch.size() < need) scratch.resize(need);
    const size_t off = (size_t)g * hd;
    c->kt->attn_batch(qs.data(), outs.data(), nullptr, nkv.data(), (int)qs.size(), c->k16.data() + off, c->v16.data() + off,
                      (size_t)c->kvdim, hd, 1.0f / sqrtf((float)hd), 0.0f, KILN_KV_F16, scratch.data());
  }
}

// --- checks -------------------------------------------------------------------

using kiln_weights::check_f32;
using kiln_weights::check_weight;

bool check_layer(const kiln_bert_params &p, const kiln_bert_layer &L, int64_t qdim, int64_t kvdim, const char **error) {
  const int64_t d = p.n_embd;
  if (present(L.wqkv)) {
    if (!check_weight(L.wqkv, d, qdim + 2 * kvdim, true, error) || !check_f32(L.bqkv, qdim + 2 * kvdim, false, error)) return false;
  } else if (!check_weight(L.wq, d, qdim, true, error) || !check_weight(L.wk, d, kvdim, true, error) ||
             !check_weight(L.wv, d, kvdim, true, error) || !check_f32(L.bq, qdim, false, error) ||
             !check_f32(L.bk, kvdim, false, error) || !check_f32(L.bv, kvdim, false, error)) {
    return false;
  }
  return check_weight(L.wo, qdim, d, true, error) && check_f32(L.bo, d, false, error) &&
         check_f32(L.attn_out_norm, d, true, error) && check_f32(L.attn_out_norm_b, d, false, error) &&
         check_weight(L.w_up, d, p.n_ff, true, error) && check_f32(L.b_up, p.n_ff, false, error) &&
         check_weight(L.w_gate, d, p.n_ff, false, error) && check_weight(L.w_down, p.n_ff, d, true, error) &&
         check_f32(L.b_down, d, false, error) && check_f32(L.out_norm, d, true, error) &&
         check_f32(L.out_norm_b, d, false, error);
}

} // namespace

extern "C" kiln_bert_ctx *kiln_bert_new(const kiln_bert_model *m, const char **error) {
  const kiln_bert_params &p = m->p;
  *error = "bad hyperparameters";
  if (p.n_vocab <= 0 || p.n_embd <= 0 || p.n_layer <= 0 || p.n_head <= 0 || p.n_head_kv <= 0 || p.head_dim <= 0 ||
      p.n_ff <= 0 || p.n_ctx <= 0 || p.n_head % p.n_head_kv != 0 || p.pooling < KILN_POOL_NONE || p.pooling > KILN_POOL_RANK ||
      (p.rope && (p.n_rot <= 0 || p.n_rot > p.head_dim || p.n_rot % 2)))
    return nullptr;
  const int64_t d = p.n_embd, qdim = (int64_t)p.n_head * p.head_dim, kvdim = (int64_t)p.n_head_kv * p.head_dim;
  if (!check_weight(m->tok_embd, d, p.n_vocab, true, error) || !check_weight(m->type_embd, d, 0, false, error) ||
      !check_weight(m->pos_embd, d, 0, !p.rope, error) || !check_f32(m->tok_norm, d, true, error) ||
      !check_f32(m->tok_norm_b, d, false, error))
    return nullptr;
  if (!p.rope && m->pos_embd.ne1 < p.n_ctx) {
    *error = "the context is longer than the model's position embeddings";
    return nullptr;
  }
  int64_t n_cls_out = d;
  if (p.pooling == KILN_POOL_RANK) {
    if (!check_weight(m->cls, d, d, false, error) || !check_f32(m->cls_b, d, false, error) ||
        !check_weight(m->cls_out, d, 0, false, error))
      return nullptr;
    if (present(m->cls_out)) {
      n_cls_out = m->cls_out.ne1;
      if (!check_f32(m->cls_out_b, n_cls_out, false, error)) return nullptr;
    }
  }
  for (int32_t l = 0; l < p.n_layer; l++)
    if (!check_layer(p, m->layers[l], qdim, kvdim, error)) return nullptr;
  kiln_bert_ctx *c = new (std::nothrow) kiln_bert_ctx();
  if (!c) {
    *error = "out of memory";
    return nullptr;
  }
  try {
    c->m = *m;
    c->layers.assign(m->layers, m->layers + p.n_layer);
    c->m.layers = c->layers.data();
  } catch (...) {
    delete c;
    *error = "out of memory";
    return nullptr;
  }
  c->variant = kiln_variant_supported((kiln_variant)p.variant) ? (kiln_variant)p.variant : kiln_best_variant();
  c->kt = kiln_kernels_for(c->variant);
  c->qdim = qdim;
  c->kvdim = kvdim;
  c->n_cls_out = n_cls_out;
  *error = nullptr;
  return c;
}

extern "C" void kiln_bert_free(kiln_bert_ctx *c) { delete c; }

extern "C" int64_t kiln_bert_out_size(const kiln_bert_ctx *c, int32_t n) {
  switch (c->m.p.pooling) {
    case KILN_POOL_NONE: return (int64_t)n * c->m.p.n_embd;
    case KILN_POOL_RANK: return c->n_cls_out;
    default: return c->m.p.n_embd;
  }
}

extern "C" int kiln_bert_eval(kiln_bert_ctx *c, const int32_t *tokens, int32_t n, float *out, const char **error) {
  const kiln_bert_model &m = c->m;
  const kiln_bert_params &p = m.p;
  if (n <= 0) {
    *error = "empty input";
    return -1;
  }
  if (n > p.n_ctx) {
    *error = "input is longer than the context";
    return -1;
  }
  for (int32_t t = 0; t < n; t++)
    if (tokens[t] < 0 || tokens[t] >= p.n_vocab) {
      *error = "token id out of range";
      return -1;
    }
  const int64_t d = p.n_embd, qdim = c->qdim, kvdim = c->kvdim, ff = p.n_ff, qkv = qdim + 2 * kvdim;
  try {
    c->x.resize(n * d);
    c->cur.resize(n * d);
    c->qkv.resize(n * qkv);
    c->q.resize(n * qdim);
    c->k.resize(n * kvdim);
    c->v.resize(n * kvdim);
    c->k16.resize(n * kvdim);
    c->v16.resize(n * kvdim);
    c->att.resize(n * qdim);
    c->up.resize(n * ff);
    c->gate.resize(n * ff);
    c->tmp.resize(n * d);
    c->row.resize(d > c->n_cls_out ? d : c->n_cls_out);
    if (p.rope) rope_table(c->rope_cs, n, p.n_rot, p.rope_base, p.rope_freq_scale);
  } catch (...) {
    *error = "out of memory for the input";
    return -1;
  }

  // token + type 0 (+ position) embeddings, then LayerNorm
  memset(c->tmp.data(), 0, n * d * sizeof(float));
  for (int32_t t = 0; t < n; t++) {
    float *xt = c->tmp.data() + t * d;
    add_row(m.tok_embd, tokens[t], d, c->row.data(), xt);
    if (present(m.type_embd)) add_row(m.type_embd, 0, d, c->row.data(), xt);
    if (!p.rope) add_row(m.pos_embd, t, d, c->row.data(), xt);
  }
  layer_norm(c->tmp.data(), m.tok_norm, m.tok_norm_b, n, d, p.norm_eps, c->x.data());

  for (int32_t l = 0; l < p.n_layer; l++) {
    const kiln_bert_layer &L = m.layers[l];
    // q, k, v
    if (present(L.wqkv)) {
      if (!matmul(c, L.wqkv, c->x.data(), n, c->qkv.data(), error)) return -1;
      add_bias(c->qkv.data(), L.bqkv, n, qkv);
      for (int32_t t = 0; t < n; t++) {
        const float *r = c->qkv.data() + t * qkv;
        memcpy(c->q.data() + t * qdim, r, qdim * sizeof(float));
        memcpy(c->k.data() + t * kvdim, r + qdim, kvdim * sizeof(float));
        memcpy(c->v.data() + t * kvdim, r + qdim + kvdim, kvdim * sizeof(float));
      }
    } else {
      if (!matmul(c, L.wq, c->x.data(), n, c->q.data(), error) || !matmul(c, L.wk, c->x.data(), n, c->k.data(), error) ||
          !matmul(c, L.wv, c->x.data(), n, c->v.data(), error))
        return -1;
      add_bias(c->q.data(), L.bq, n, qdim);
      add_bias(c->k.data(), L.bk, n, kvdim);
      add_bias(c->v.data(), L.bv, n, kvdim);
    }
    for (int32_t t = 0; t < n; t++) {
      if (p.rope) {
        const float *cs = c->rope_cs.data() + (size_t)t * p.n_rot;
        for (int32_t h = 0; h < p.n_head; h++) rope_neox(c->q.data() + t * qdim + (int64_t)h * p.head_dim, p.n_rot, cs);
        for (int32_t h = 0; h < p.n_head_kv; h++) rope_neox(c->k.data() + t * kvdim + (int64_t)h * p.head_dim, p.n_rot, cs);
      }
      c->kt->from_float[KILN_TYPE_F16](c->k.data() + t * kvdim, c->k16.data() + t * kvdim, kvdim);
      c->kt->from_float[KILN_TYPE_F16](c->v.data() + t * kvdim, c->v16.data() + t * kvdim, kvdim);
    }
    if (n < kTiledQueries) {
      AttnJob aj{c, n};
      const int64_t per_row = (int64_t)p.head_dim * n;
      kiln_pool_run(attn_rows, &aj, (int64_t)n * p.n_head, per_row >= 65536 ? 1 : 65536 / per_row);
    } else {
      const int32_t group = p.n_head / p.n_head_kv, tb = group >= 16 ? 1 : 16 / group;
      AttnBatchJob bj{c, n, tb};
      kiln_pool_run(attn_batch_rows, &bj, (int64_t)((n + tb - 1) / tb) * p.n_head_kv, 1);
    }
    if (!matmul(c, L.wo, c->att.data(), n, c->tmp.data(), error)) return -1;
    add_bias(c->tmp.data(), L.bo, n, d);
    // post-norm: LayerNorm(attention + layer input)
    for (int64_t i = 0; i < n * d; i++) c->tmp[i] += c->x[i];
    layer_norm(c->tmp.data(), L.attn_out_norm, L.attn_out_norm_b, n, d, p.norm_eps, c->cur.data());

    // feed-forward on cur, then LayerNorm(ffn + cur) becomes the next layer's input
    if (!matmul(c, L.w_up, c->cur.data(), n, c->up.data(), error)) return -1;
    add_bias(c->up.data(), L.b_up, n, ff);
    if (present(L.w_gate)) {
      if (!matmul(c, L.w_gate, c->cur.data(), n, c->gate.data(), error)) return -1;
      ActJob sj{c->kt, c->gate.data(), c->up.data(), ff};
      kiln_pool_run(silu_rows, &sj, n, rows_grain(ff));
      if (!matmul(c, L.w_down, c->gate.data(), n, c->tmp.data(), error)) return -1;
    } else {
      ActJob gj{c->kt, c->up.data(), nullptr, ff};
      kiln_pool_run(gelu_rows, &gj, n, rows_grain(ff));
      if (!matmul(c, L.w_down, c->up.data(), n, c->tmp.data(), error)) return -1;
    }
    add_bias(c->tmp.data(), L.b_down, n, d);
    for (int64_t i = 0; i < n * d; i++) c->tmp[i] += c->cur[i];
    layer_norm(c->tmp.data(), L.out_norm, L.out_norm_b, n, d, p.norm_eps, c->x.data());
  }

  switch (p.pooling) {
    case KILN_POOL_NONE:
      memcpy(out, c->x.data(), n * d * sizeof(float));
      return 0;
    case KILN_POOL_MEAN: {
      const float w = 1.0f / (float)n;
      for (int64_t i = 0; i < d; i++) {
        double s = 0;
        for (int32_t t = 0; t < n; t++) s += (double)(c->x[t * d + i] * w);
        out[i] = (float)s;
      }
      return 0;
    }
    case KILN_POOL_LAST:
      memcpy(out, c->x.data() + (int64_t)(n - 1) * d, d * sizeof(float));
      return 0;
    case KILN_POOL_CLS:
      memcpy(out, c->x.data(), d * sizeof(float));
      return 0;
    default: break;
  }
  // rank: the first token's state through the classifier head
  const float *h = c->x.data();
  if (present(m.cls)) {
    if (!matmul(c, m.cls, h, 1, c->row.data(), error)) return -1;
    add_bias(c->row.data(), m.cls_b, 1, d);
    for (int64_t i = 0; i < d; i++) c->row[i] = tanhf(c->row[i]);
    h = c->row.data();
  }
  if (present(m.cls_out)) {
    if (!matmul(c, m.cls_out, h, 1, out, error)) return -1;
    add_bias(out, m.cls_out_b, 1, c->n_cls_out);
  } else {
    memmove(out, h, d * sizeof(float));
  }
  return 0;
}
