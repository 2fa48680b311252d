// Reference (scalar) versions of the non-matmul ops of a llama layer. Their
// numerics follow llama.cpp's CPU backend where it matters for token-for-token
// agreement (see llama/forward.cpp): sums of squares and softmax sums in
// double. Per-ISA versions in x86/ have the same signatures and differ only in
// summation order and in an exp accurate to about one ulp.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The KV cache's element type and how attention sums over it (the kv_f16
// argument below). KILN_KV_F16_ACC16 is llama.cpp's CPU flash attention, which
// it runs for batches of fewer than 64 queries: q rounded to binary16, online
// softmax, and the weighted sum of values accumulated in binary16. kiln uses it
// where llama.cpp does, so that greedy decoding agrees token for token.
//
// KILN_KV_F16_MM is llama.cpp's attention without flash attention, as
// node-llama-cpp runs gemma2: q rounded to binary16, the scores a matrix
// product with the f16 keys, a softmax whose weights are rounded to binary16
// and a matrix product of those with the f16 values.
enum { KILN_KV_F32 = 0, KILN_KV_F16 = 1, KILN_KV_F16_ACC16 = 2, KILN_KV_F16_MM = 3 };

// One query head's attention over the first n_kv positions of one KV head:
// out = sum_s softmax_s(x_s) v_s with x_s = scale * q . k_s, or, when softcap
// is not 0, x_s = softcap * tanh(q . k_s * (scale / softcap)) (gemma2's
// attention logit soft-capping, computed as llama.cpp does). k and v point at
// position 0 of that head, rows `stride` elements apart, binary16 (kv_f16 !=
// KILN_KV_F32) or f32 elements. scratch holds kiln_attn_scratch(n_kv,
// head_dim) floats. A sliding window is the caller's: k and v pointing at the
// window's first position.
void kiln_attn_ref(const float *q, const void *k, const void *v, size_t stride, int32_t n_kv, int32_t head_dim, float scale,
                   float softcap, int kv_f16, float *scratch, float *out);

static inline size_t kiln_attn_scratch(int32_t n_kv, int32_t head_dim) { return 2 * (size_t)n_kv + 2 * (size_t)head_dim; }

// Attention of nq queries against one KV head: query j (head_dim floats at
// q[j]) sees positions [kv0[j], n_kv[j]) (kv0 NULL: from 0; a sliding window
// otherwise) and writes out[j]. Lets a kernel share the cache rows between
// queries (a GQA group, a block of prompt tokens); scratch holds
// kiln_attn_batch_scratch(nq, max n_kv, head_dim) floats. scale and softcap
// as for kiln_attn_ref.
void kiln_attn_batch_ref(const float *const *q, float *const *out, const int32_t *kv0, const int32_t *n_kv, int nq,
                         const void *k, const void *v, size_t stride, int32_t head_dim, float scale, float softcap, int kv_f16,
                         float *scratch);

static inline size_t kiln_attn_batch_scratch(int nq, int32_t n_max, int32_t head_dim) {
  const size_t n8 = ((size_t)n_max + 7) / 8 * 8;
  return (size_t)nq * n8 + 8 * (size_t)head_dim + n8 * (size_t)head_dim;
}

// out[i] = silu(g[i]) * u[i], silu(g) = g / (1 + e^-g). out may alias g.
void kiln_silu_mul_ref(const float *g, const float *u, float *out, int64_t n);

// out[i] = gelu(g[i]) * u[i] as ggml's CPU backend computes GEGLU: gelu in its
// tanh form, read from a table over the binary16 values of g (g rounded to
// binary16, gelu of that rounded to binary16), 0 for g <= -10 and g itself for
// g >= 10. out may alias g.
void kiln_gelu_mul_ref(const float *g, const float *u, float *out, int64_t n);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]: the squares rounded to float
// and summed in double (llama.cpp's rounding; with the exact squares the
// scale differs by an ulp in about 1 row of 100 at 80 wide).
void kiln_rmsnorm_ref(const float *x, const float *w, float eps, int64_t n, float *out);

#ifdef __cplusplus
}
#endif
