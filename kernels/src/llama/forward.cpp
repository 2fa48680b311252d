// The llama forward pass. Numerics follow what llama.cpp's CPU backend does
// where it matters for token-for-token agreement: RMSNorm sums squares in
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
#include "../quants.h"
#include "../ref/half.h"
#include "../variant.h"

struct kiln_llama_ctx {
  kiln_llama_model m;
  std::vector<kiln_llama_layer> layers;
  const kiln_kernel_table *kt;
  int32_t n_past = 0;
  int64_t kv_dim = 0;
  // KV cache: [layer][pos][kv_dim], f16 or f32
  std::vector<uint16_t> k16, v16;
  std::vector<float> k32, v32;
  // scratch, sized for the largest batch seen
  std::vector<float> x, xn, q, k, v, att, ffg, ffu, tmp, hidden;
  std::vector<uint8_t> actq;
  int32_t hidden_n = 0;
};

namespace {

bool present(const kiln_weight &w) { return w.data != nullptr; }

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

bool matmul(kiln_llama_ctx *c, const kiln_weight &w, const float *x, int32_t n, float *y, const char **error) {
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
  kiln_matmul_q(c->kt, w.type, w.data, w.ne1, w.ne0, act, act_bytes, n, y, w.ne1);
  return true;
}

// --- elementwise ------------------------------------------------------------

void rmsnorm(const float *x, const kiln_weight &w, float eps, int64_t d, float *out) {
  double sum = 0;
  for (int64_t i = 0; i < d; i++) sum += (double)x[i] * (double)x[i];
  const float scale = 1.0f / sqrtf((float)(sum / (double)d) + eps);
  const float *g = static_cast<const float *>(w.data);
  for (int64_t i = 0; i < d; i++) out[i] = (x[i] * scale) * g[i];
}

// Rotates one head in place. theta for pair i = pos * base^(-2i/n_rot) / freq_factor[i].
void rope(float *v, int32_t n_rot, int32_t pos, float base, float freq_scale, const float *ff, bool neox) {
  const float theta_scale = powf(base, -2.0f / (float)n_rot);
  float theta = (float)pos;
  for (int32_t i = 0; i < n_rot / 2; i++) {
    float t = theta * freq_scale;
    if (ff) t /= ff[i];
    const float cs = cosf(t), sn = sinf(t);
    const int32_t a = neox ? i : 2 * i;
    const int32_t b = neox ? i + n_rot / 2 : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * cs - x1 * sn;
    v[b] = x0 * sn + x1 * cs;
    theta *= theta_scale;
  }
}

void add_bias(float *y, const kiln_weight &b, int32_t n, int64_t d) {
  if (!present(b)) return;
  const float *bb = static_cast<const float *>(b.data);
  for (int32_t t = 0; t < n; t++)
    for (int64_t i = 0; i < d; i++) y[t * d + i] += bb[i];
}

// --- attention ----------------------------------------------------------------

struct AttnJob {
  kiln_llama_ctx *c;
  int32_t layer, n, pos0;
};

void attn_rows(void *ctx, int64_t b, int64_t e) {
  const AttnJob &j = *static_cast<const AttnJob *>(ctx);
  kiln_llama_ctx *c = j.c;
  const kiln_llama_params &p = c->m.p;
  const int32_t hd = p.head_dim;
  const int32_t group = p.n_head / p.n_head_kv;
  const float scale = 1.0f / sqrtf((float)hd);
  const int64_t qdim = (int64_t)p.n_head * hd;
  const size_t layer_off = (size_t)j.layer * (size_t)p.n_ctx * (size_t)c->kv_dim;
  std::vector<float> scores(p.n_ctx);
  std::vector<float> acc(hd);
  for (int64_t row = b; row < e; row++) {
    const int32_t t = (int32_t)(row / p.n_head), h = (int32_t)(row % p.n_head);
    const int32_t kvh = h / group;
    const float *q = c->q.data() + (int64_t)t * qdim + (int64_t)h * hd;
    const int32_t n_kv = j.pos0 + t + 1; // causal: positions 0..pos
    float mx = -INFINITY;
    for (int32_t s = 0; s < n_kv; s++) {
      const size_t off = layer_off + (size_t)s * c->kv_dim + (size_t)kvh * hd;
      float dot = 0;
      if (p.kv_f16) {
        const uint16_t *k = c->k16.data() + off;
        for (int32_t i = 0; i < hd; i++) dot += q[i] * kiln_f16_to_f32(k[i]);
      } else {
        const float *k = c->k32.data() + off;
        for (int32_t i = 0; i < hd; i++) dot += q[i] * k[i];
      }
      scores[s] = dot * scale;
      if (scores[s] > mx) mx = scores[s];
    }
    double sum = 0;
    for (int32_t s = 0; s < n_kv; s++) {
      const float ev = expf(scores[s] - mx);
      scores[s] = ev;
      sum += ev;
    }
    const float inv = (float)(1.0 / sum);
    for (int32_t i = 0; i < hd; i++) acc[i] = 0;
    for (int32_t s = 0; s < n_kv; s++) {
      const float w = scores[s] * inv;
      const size_t off = layer_off + (size_t)s * c->kv_dim + (size_t)kvh * hd;
      if (p.kv_f16) {
        const uint16_t *v = c->v16.data() + off;
        for (int32_t i = 0; i < hd; i++) acc[i] += w * kiln_f16_to_f32(v[i]);
      } else {
        const float *v = c->v32.data() + off;
        for (int32_t i = 0; i < hd; i++) acc[i] += w * v[i];
      }
    }
    float *out = c->att.data() + (int64_t)t * qdim + (int64_t)h * hd;
    for (int32_t i = 0; i < hd; i++) out[i] = acc[i];
  }
}

bool check_weight(const kiln_weight &w, int64_t ne0, int64_t ne1, bool required, const char **error) {
  if (!present(w)) {
    if (required) *error = "a required tensor is missing";
    return !required;
  }
  if (w.ne0 != ne0 || (ne1 > 0 && w.ne1 != ne1)) {
    *error = "a tensor has the wrong shape for the model's hyperparameters";
    return false;
  }
  if (kiln_type_traits_of(w.type) == nullptr) {
    *error = "a tensor has an unsupported type";
    return false;
  }
  return true;
}

bool check_f32(const kiln_weight &w, int64_t n, bool required, const char **error) {
  if (!present(w)) {
    if (required) *error = "a required norm or bias tensor is missing";
    return !required;
  }
  if (w.type != KILN_TYPE_F32 || w.ne0 * (w.ne1 > 0 ? w.ne1 : 1) != n) {
    *error = "a norm or bias tensor is not F32 of the expected length";
    return false;
  }
  return true;
}

} // namespace

extern "C" kiln_llama_ctx *kiln_llama_new(const kiln_llama_model *m, const char **error) {
  const kiln_llama_params &p = m->p;
  *error = "bad hyperparameters";
  if (p.n_vocab <= 0 || p.n_embd <= 0 || p.n_layer <= 0 || p.n_head <= 0 || p.n_head_kv <= 0 || p.head_dim <= 0 ||
      p.n_ff <= 0 || p.n_ctx <= 0 || p.n_head % p.n_head_kv != 0 || p.n_rot <= 0 || p.n_rot > p.head_dim || p.n_rot % 2)
    return nullptr;
  const int64_t qdim = (int64_t)p.n_head * p.head_dim, kvdim = (int64_t)p.n_head_kv * p.head_dim;
  if (!check_weight(m->tok_embd, p.n_embd, p.n_vocab, true, error)) return nullptr;
  if (!check_f32(m->output_norm, p.n_embd, true, error)) return nullptr;
  if (!check_weight(m->output, p.n_embd, p.n_vocab, false, error)) return nullptr;
  if (present(m->rope_freqs) && !check_f32(m->rope_freqs, p.n_rot / 2, true, error)) return nullptr;
  for (int32_t l = 0; l < p.n_layer; l++) {
    const kiln_llama_layer &L = m->layers[l];
    if (!check_f32(L.attn_norm, p.n_embd, true, error) || !check_weight(L.wq, p.n_embd, qdim, true, error) ||
        !check_weight(L.wk, p.n_embd, kvdim, true, error) || !check_weight(L.wv, p.n_embd, kvdim, true, error) ||
        !check_weight(L.wo, qdim, p.n_embd, true, error) || !check_f32(L.bq, qdim, false, error) ||
        !check_f32(L.bk, kvdim, false, error) || !check_f32(L.bv, kvdim, false, error) ||
        !check_f32(L.ffn_norm, p.n_embd, true, error) || !check_weight(L.w_gate, p.n_embd, p.n_ff, true, error) ||
        !check_weight(L.w_up, p.n_embd, p.n_ff, true, error) || !check_weight(L.w_down, p.n_ff, p.n_embd, true, error))
      return nullptr;
  }
  kiln_llama_ctx *c = new (std::nothrow) kiln_llama_ctx();
  if (!c) {
    *error = "out of memory";
    return nullptr;
  }
  try {
    c->m = *m;
    c->layers.assign(m->layers, m->layers + p.n_layer);
    c->m.layers = c->layers.data();
    const kiln_variant v = (kiln_variant)p.variant;
    c->kt = kiln_kernels_for(kiln_variant_supported(v) ? v : kiln_best_variant());
    c->kv_dim = kvdim;
    const size_t cache = (size_t)p.n_layer * (size_t)p.n_ctx * (size_t)kvdim;
    if (p.kv_f16) {
      c->k16.assign(cache, 0);
      c->v16.assign(cache, 0);
    } else {
      c->k32.assign(cache, 0.0f);
      c->v32.assign(cache, 0.0f);
    }
  } catch (...) {
    delete c;
    *error = "out of memory for the KV cache";
    return nullptr;
  }
  *error = nullptr;
  return c;
}

extern "C" void kiln_llama_free(kiln_llama_ctx *c) { delete c; }

extern "C" void kiln_llama_truncate(kiln_llama_ctx *c, int32_t pos) {
  if (pos < 0) pos = 0;
  if (pos < c->n_past) c->n_past = pos;
}

extern "C" const float *kiln_llama_hidden(const kiln_llama_ctx *c, int32_t *n_tokens) {
  *n_tokens = c->hidden_n;
  return c->hidden.data();
}

extern "C" int kiln_llama_eval(kiln_llama_ctx *c, const int32_t *tokens, int32_t n, int32_t pos0, float *logits,
                               int32_t all_logits, const char **error) {
  const kiln_llama_model &m = c->m;
  const kiln_llama_params &p = m.p;
  if (n <= 0) {
    *error = "empty batch";
    return -1;
  }
  if (pos0 < 0 || pos0 > c->n_past) {
    *error = "batch does not continue the cached sequence";
    return -1;
  }
  if ((int64_t)pos0 + n > p.n_ctx) {
    *error = "context is full";
    return -1;
  }
  for (int32_t t = 0; t < n; t++)
    if (tokens[t] < 0 || tokens[t] >= p.n_vocab) {
      *error = "token id out of range";
      return -1;
    }
  const int64_t d = p.n_embd, qdim = (int64_t)p.n_head * p.head_dim, kvdim = c->kv_dim, ff = p.n_ff;
  try {
    c->x.resize(n * d);
    c->xn.resize(n * d);
    c->q.resize(n * qdim);
    c->k.resize(n * kvdim);
    c->v.resize(n * kvdim);
    c->att.resize(n * qdim);
    c->ffg.resize(n * ff);
    c->ffu.resize(n * ff);
    c->tmp.resize(n * (d > qdim ? d : qdim));
  } catch (...) {
    *error = "out of memory for the batch";
    return -1;
  }
  // token embeddings: one dequantized row each
  const kiln_type_traits *et = kiln_type_traits_of(m.tok_embd.type);
  const size_t erow = kiln_row_size(m.tok_embd.type, d);
  for (int32_t t = 0; t < n; t++)
    et->to_float(static_cast<const uint8_t *>(m.tok_embd.data) + (size_t)tokens[t] * erow, c->x.data() + t * d, d);

  const float *ff_factors = present(m.rope_freqs) ? static_cast<const float *>(m.rope_freqs.data) : nullptr;
  for (int32_t l = 0; l < p.n_layer; l++) {
    const kiln_llama_layer &L = m.layers[l];
    for (int32_t t = 0; t < n; t++) rmsnorm(c->x.data() + t * d, L.attn_norm, p.rms_eps, d, c->xn.data() + t * d);
    if (!matmul(c, L.wq, c->xn.data(), n, c->q.data(), error) || !matmul(c, L.wk, c->xn.data(), n, c->k.data(), error) ||
        !matmul(c, L.wv, c->xn.data(), n, c->v.data(), error))
      return -1;
    add_bias(c->q.data(), L.bq, n, qdim);
    add_bias(c->k.data(), L.bk, n, kvdim);
    add_bias(c->v.data(), L.bv, n, kvdim);
    for (int32_t t = 0; t < n; t++) {
      for (int32_t h = 0; h < p.n_head; h++)
        rope(c->q.data() + t * qdim + (int64_t)h * p.head_dim, p.n_rot, pos0 + t, p.rope_base, p.rope_freq_scale, ff_factors,
             p.rope_neox);
      for (int32_t h = 0; h < p.n_head_kv; h++)
        rope(c->k.data() + t * kvdim + (int64_t)h * p.head_dim, p.n_rot, pos0 + t, p.rope_base, p.rope_freq_scale,
             ff_factors, p.rope_neox);
      const size_t off = ((size_t)l * p.n_ctx + (size_t)(pos0 + t)) * (size_t)kvdim;
      if (p.kv_f16) {
        for (int64_t i = 0; i < kvdim; i++) {
          c->k16[off + i] = kiln_f32_to_f16(c->k[t * kvdim + i]);
          c->v16[off + i] = kiln_f32_to_f16(c->v[t * kvdim + i]);
        }
      } else {
        memcpy(c->k32.data() + off, c->k.data() + t * kvdim, kvdim * sizeof(float));
        memcpy(c->v32.data() + off, c->v.data() + t * kvdim, kvdim * sizeof(float));
      }
    }
    AttnJob aj{c, l, n, pos0};
    kiln_pool_run(attn_rows, &aj, (int64_t)n * p.n_head, 1);
    if (!matmul(c, L.wo, c->att.data(), n, c->tmp.data(), error)) return -1;
    for (int64_t i = 0; i < n * d; i++) c->x[i] += c->tmp[i];

    for (int32_t t = 0; t < n; t++) rmsnorm(c->x.data() + t * d, L.ffn_norm, p.rms_eps, d, c->xn.data() + t * d);
    if (!matmul(c, L.w_gate, c->xn.data(), n, c->ffg.data(), error) || !matmul(c, L.w_up, c->xn.data(), n, c->ffu.data(), error))
      return -1;
    for (int64_t i = 0; i < n * ff; i++) {
      const float g = c->ffg[i];
      c->ffg[i] = (g / (1.0f + expf(-g))) * c->ffu[i];
    }
    if (!matmul(c, L.w_down, c->ffg.data(), n, c->tmp.data(), error)) return -1;
    for (int64_t i = 0; i < n * d; i++) c->x[i] += c->tmp[i];
  }
  c->n_past = pos0 + n;

  const int32_t first = all_logits ? 0 : n - 1;
  const int32_t count = n - first;
  try {
    c->hidden.resize((size_t)n * d);
  } catch (...) {
    *error = "out of memory";
    return -1;
  }
  for (int32_t t = 0; t < n; t++) rmsnorm(c->x.data() + t * d, m.output_norm, p.rms_eps, d, c->hidden.data() + t * d);
  c->hidden_n = n;
  const kiln_weight &out = present(m.output) ? m.output : m.tok_embd;
  if (logits && !matmul(c, out, c->hidden.data() + (int64_t)first * d, count, logits, error)) return -1;
  return 0;
}
