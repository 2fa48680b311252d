// The llama forward pass (llama / Mistral / Qwen2 / Qwen3 / Phi-3 families) over weights that
// stay in the mmapped GGUF file. One call evaluates a whole batch of tokens:
// no per-op round trips into JS. C linkage with C++ parameter types (only C++
// includes this header); kernels/binding is the only glue.
#pragma once
#include <stddef.h>
#include <stdint.h>

// What the KV cache holds, and so how attention reads it: f32 rows, or f16
// rows summed the way llama.cpp's CPU flash attention sums them.
enum class kiln_kv_cache : int32_t { f32 = 0, f16 = 1 };

extern "C" {

typedef struct kiln_weight {
  const void *data; // NULL when absent
  int type;         // ggml type id
  int64_t ne0;      // row length (fastest dimension)
  int64_t ne1;      // rows
} kiln_weight;

typedef struct kiln_llama_layer {
  kiln_weight attn_norm, wq, wk, wv, wo, bq, bk, bv, ffn_norm, w_gate, w_up, w_down;
  // optional (absent: skipped): per-head RMSNorm of q and k (head_dim weights) after the projections,
  // before RoPE (qwen3, gemma3)
  kiln_weight attn_q_norm, attn_k_norm;
  // phi3: q, k and v in one matrix (rows q, then k, then v), used instead of wq/wk/wv
  // (also phi3: no w_gate, and w_up holds 2*n_ff rows: the gate's n_ff rows, then up's)
  kiln_weight wqkv;
  // optional: RMSNorm of the attention and FFN outputs before their residual adds (gemma2, gemma3)
  kiln_weight attn_post_norm, ffn_post_norm;
  // mixture of experts, used instead of w_gate/w_up/w_down when ffn_gate_inp is present: the router
  // (n_expert rows of n_embd), and 3-D expert tensors held as n_expert contiguous 2-D slices
  // (gate/up: n_ff_exp rows of n_embd each; down: n_embd rows of n_ff_exp each)
  kiln_weight ffn_gate_inp, ffn_gate_exps, ffn_up_exps, ffn_down_exps;
  // optional shared expert (qwen2moe): a dense SwiGLU FFN of n_ff_shexp, its output scaled by
  // sigmoid(ffn_gate_inp_shexp . x) (one row of n_embd) and added to the experts' sum
  kiln_weight ffn_gate_inp_shexp, ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp;
  // optional (gpt-oss): per-head attention sink logits (n_head F32) that join each head's softmax
  // denominator; the attention output's bias (n_embd); the router's bias (n_expert); each expert's
  // biases, n_expert contiguous rows: gate/up n_ff_exp each, down n_embd each
  kiln_weight attn_sinks, bo, ffn_gate_inp_b, ffn_gate_exps_b, ffn_up_exps_b, ffn_down_exps_b;
} kiln_llama_layer;

typedef struct kiln_llama_params {
  int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_rot;
  int32_t rope_neox;     // 0: rotate adjacent pairs (llama); 1: rotate halves (NEOX: qwen2)
  float rope_base;
  float rope_freq_scale; // 1 / linear scaling factor
  float rms_eps;
  int32_t n_ctx;
  kiln_kv_cache kv_cache; // element type of the KV cache
  int32_t variant;       // kernel variant (variant.h); one this CPU cannot run means the best it can
  float rope_attn_factor; // multiplies RoPE's cos and sin (llama.cpp's attn_factor; phi3's LongRoPE), 1 for most models
  // gemma2 / gemma3 / phi3; each 0 means off (the llama path)
  float embd_scale;      // token embeddings multiplied by this (gemma: sqrt(n_embd))
  int32_t ffn_gelu;      // 1: GELU(gate) * up as ggml's GEGLU, instead of SiLU(gate) * up
  float attn_q_scale;    // q multiplied by this after RoPE, then attention unscaled (0: scale 1/sqrt(head_dim));
                         // phi3's graph scales q by 1/sqrt(head_dim) this way, gemma by its query scale
  float attn_softcap;    // attention scores = cap * tanh(scores / cap)
  float final_softcap;   // logits = cap * tanh(logits / cap)
  int32_t n_swa;         // sliding window: a query at p sees positions (p - n_swa, p] on the SWA layers (0: none)
  int32_t swa_pattern;   // layer l is SWA when l % swa_pattern < swa_pattern - 1, or always when 0 (llama.cpp's rule)
  float rope_base_swa;   // RoPE of the SWA layers
  float rope_freq_scale_swa;
  int32_t attn_unfused;  // 1: attention over the f16 cache as llama.cpp computes it without flash attention
                         // (node-llama-cpp turns flash attention off for gemma2)
  int32_t n_seq;         // sequences with a cache region of n_ctx positions each (0 means 1); see kiln_llama_decode
  int32_t n_gpu_layers;  // the last this many layers run on the Vulkan device when there is one (0: none; src/vulkan/offload.h)
  // Element types of the cached keys and of the cached values (ggml type ids): 0 means kv_cache's type; otherwise
  // KILN_TYPE_F16, KILN_TYPE_Q8_0 or KILN_TYPE_Q4_0 (ref/kv_quant.h), only with kv_cache f16. A block type needs
  // head_dim a multiple of 32, flash attention (not attn_unfused), and keeps every layer on the CPU.
  int32_t kv_type_k, kv_type_v;
  int32_t gpu_output;    // 1: with an offload, the final norm and the output projection run on the device too
  // mixture of experts (0 experts: every layer dense)
  int32_t n_expert, n_expert_used; // experts per MoE layer, and how many each token uses (its top k)
  int32_t n_ff_exp, n_ff_shexp;    // an expert's FFN width; the shared expert's (0: none)
  int32_t expert_gating;           // kiln_expert_gating
  int32_t expert_weights_norm;     // 1: the chosen experts' weights are divided by their sum
  float expert_weights_scale;      // the weights are multiplied by this (0 or 1: not)
  // gpt-oss's clamped SwiGLU for the experts when alpha > 0 (ggml's swiglu_oai):
  // min(g, limit) * sigmoid(alpha * min(g, limit)) * (clamp(u, -limit, limit) + 1)
  float swiglu_oai_alpha, swiglu_oai_limit;
  // YaRN RoPE (llama.cpp's ext_factor; 0: off): each pair's angle mixes the interpolated and the
  // extrapolated one by a ramp over the correction dimensions from beta_fast/beta_slow and the original
  // context, and cos/sin are multiplied by 1 + 0.1 ln(1 / freq_scale) on top of rope_attn_factor
  float yarn_ext_factor, yarn_beta_fast, yarn_beta_slow;
  int32_t yarn_orig_ctx;
} kiln_llama_params;

// How the router's logits become the chosen experts and their weights (llama.cpp's expert_gating_func).
enum kiln_expert_gating {
  KILN_GATING_SOFTMAX = 0,        // softmax over all experts, top k of it
  KILN_GATING_SIGMOID = 1,        // sigmoid of each logit, top k of it
  KILN_GATING_SOFTMAX_WEIGHT = 2, // top k of the logits, then softmax over those k (gpt-oss)
};

typedef struct kiln_llama_model {
  kiln_llama_params p;
  kiln_weight tok_embd, output_norm, output, rope_freqs;
  kiln_llama_layer *layers; // p.n_layer entries, owned by the caller
} kiln_llama_model;

typedef struct kiln_llama_ctx kiln_llama_ctx;

// Allocates the KV cache (n_seq regions of n_ctx positions) and scratch; NULL on bad shapes or no memory.
kiln_llama_ctx *kiln_llama_new(const kiln_llama_model *m, const char **error);
void kiln_llama_free(kiln_llama_ctx *c);

// Evaluates a batch of (token, position, sequence) entries in one pass: the
// matmuls run over every entry, each entry's key and value go to its
// sequence's cache region, and attention only reads that region, so
// sequences never see each other. Entries of one sequence must be one
// contiguous run of consecutive positions starting at or before the
// sequence's cached length (a start before it forgets the positions after
// it), and a sequence appears in one run at most. Writes the logits of the
// entries listed in out[0..n_out) (indices into the batch), n_vocab floats
// each in that order. Returns 0, or -1 with *error set (bad token or
// sequence, a gap in positions, context full, unsupported type).
int kiln_llama_decode(kiln_llama_ctx *c, const int32_t *tokens, const int32_t *pos, const int32_t *seq, int32_t n,
                      const int32_t *out, int32_t n_out, float *logits, const char **error);

// Sequence 0 only: evaluates tokens[0..n) at positions pos0..pos0+n. Writes
// the logits of the last token (n_vocab floats), or of every token
// (n * n_vocab) when all_logits.
int kiln_llama_eval(kiln_llama_ctx *c, const int32_t *tokens, int32_t n, int32_t pos0, float *logits, int32_t all_logits,
                    const char **error);

// Forget sequence seq's cache positions >= pos (for a new prompt that shares a prefix).
void kiln_llama_truncate(kiln_llama_ctx *c, int32_t seq, int32_t pos);

// Context shift of sequence seq: drops its cached positions [keep, keep + discard)
// and moves the ones after them down by `discard`, re-rotating their keys by
// -discard positions (RoPE angles add, so a key rotated for position p
// becomes one rotated for p - discard). Returns the new number of cached
// positions, or -1 (error set) when the range is not inside the cache.
int32_t kiln_llama_shift(kiln_llama_ctx *c, int32_t seq, int32_t keep, int32_t discard, const char **error);

// Cached positions of sequence seq (0 for a sequence out of range).
int32_t kiln_llama_seq_len(const kiln_llama_ctx *c, int32_t seq);

// Bytes that kiln_llama_kv_save writes for n positions (each layer: n key rows and n value rows of the cache's types).
size_t kiln_llama_kv_bytes(const kiln_llama_ctx *c, int32_t n);

// Copies sequence seq's cached keys and values of positions [pos0, pos0 + n)
// to dst, layer by layer (each layer: the n key rows, then the n value rows,
// in the cache's element type). Returns 0, or -1 (error set) when the range
// is not cached.
int kiln_llama_kv_save(const kiln_llama_ctx *c, int32_t seq, int32_t pos0, int32_t n, void *dst, const char **error);

// The reverse: writes positions [pos0, pos0 + n) of sequence seq from src
// (laid out as kv_save writes it); pos0 must be at most the cached length,
// which becomes pos0 + n.
int kiln_llama_kv_load(kiln_llama_ctx *c, int32_t seq, int32_t pos0, int32_t n, const void *src, const char **error);

// Layers running on the GPU (0 when the device path was not possible) and the device bytes they hold;
// *output (when not NULL) says whether the output projection runs there too.
int32_t kiln_llama_gpu_layers(const kiln_llama_ctx *c, uint64_t *device_bytes, int32_t *output);

// Final hidden states (after output_norm) of the last eval, n * n_embd floats: for embeddings.
const float *kiln_llama_hidden(const kiln_llama_ctx *c, int32_t *n_tokens);

// Called with the input of every matmul of later evals, before it runs: x
// holds n rows of w->ne0 floats (an importance matrix sums their squares).
// NULL turns it off.
// While on, later evals record each token's expert choices on every MoE layer: kiln_llama_route_get
// points *sel at n_tokens * n_layer * n_expert_used expert ids ([token][layer][slot], by descending
// score; -1 on dense layers) and *margin at n_tokens * n_layer margins (the last chosen expert's
// score minus the best unchosen one's: in router probability, or in router logits under
// KILN_GATING_SOFTMAX_WEIGHT; +inf on dense layers),
// and returns n_tokens * n_layer.
void kiln_llama_route_trace(kiln_llama_ctx *c, int32_t on);
int32_t kiln_llama_route_get(const kiln_llama_ctx *c, const int32_t **sel, const float **margin);

typedef void (*kiln_matmul_observer)(void *user, const kiln_weight *w, const float *x, int32_t n);
void kiln_llama_observe(kiln_llama_ctx *c, kiln_matmul_observer f, void *user);

}
