// The BERT-family encoder (bert, nomic-bert): bidirectional attention over a
// whole input at once (no KV cache), post-norm LayerNorm layers with biases,
// GELU or SwiGLU feed-forward, absolute or rotary positions, and pooling of
// the final hidden states into one vector (or, for rerankers, a score). C
// linkage with C++ parameter types; kernels/binding/bert_binding.cc is the glue.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "../llama/forward.h" // kiln_weight

extern "C" {

// llama.cpp's pooling enum (`{arch}.pooling_type`).
enum { KILN_POOL_NONE = 0, KILN_POOL_MEAN = 1, KILN_POOL_CLS = 2, KILN_POOL_LAST = 3, KILN_POOL_RANK = 4 };

typedef struct kiln_bert_layer {
  // attention: fused wqkv (+ bqkv), or separate wq/wk/wv (+ biases)
  kiln_weight wqkv, bqkv, wq, wk, wv, bq, bk, bv, wo, bo;
  kiln_weight attn_out_norm, attn_out_norm_b;
  // feed-forward: GELU(up x + b_up) (bert), or silu(gate x) * up x (nomic-bert, when w_gate is present)
  kiln_weight w_up, b_up, w_gate, w_down, b_down;
  kiln_weight out_norm, out_norm_b;
} kiln_bert_layer;

typedef struct kiln_bert_params {
  int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_rot;
  int32_t rope;          // 0: absolute position embeddings (bert); 1: NEOX rotary (nomic-bert)
  float rope_base;
  float rope_freq_scale;
  float norm_eps;        // LayerNorm epsilon
  int32_t n_ctx;         // most tokens one eval takes
  int32_t pooling;       // KILN_POOL_*
  int32_t variant;       // kernel variant (variant.h)
} kiln_bert_params;

typedef struct kiln_bert_model {
  kiln_bert_params p;
  kiln_weight tok_embd, type_embd, pos_embd, tok_norm, tok_norm_b;
  kiln_weight cls, cls_b, cls_out, cls_out_b; // reranker head (pooling rank)
  kiln_bert_layer *layers; // p.n_layer entries, copied by kiln_bert_new
} kiln_bert_model;

typedef struct kiln_bert_ctx kiln_bert_ctx;

kiln_bert_ctx *kiln_bert_new(const kiln_bert_model *m, const char **error);
void kiln_bert_free(kiln_bert_ctx *c);

// Floats one eval of n tokens writes: n * n_embd (pooling none), the number
// of classifier outputs (rank), or n_embd.
int64_t kiln_bert_out_size(const kiln_bert_ctx *c, int32_t n);

// Encodes tokens[0..n) as one sequence (positions 0..n, token type 0) and
// writes the pooled result (not normalized) to out. Returns 0, or -1 with
// *error set.
int kiln_bert_eval(kiln_bert_ctx *c, const int32_t *tokens, int32_t n, float *out, const char **error);
}
