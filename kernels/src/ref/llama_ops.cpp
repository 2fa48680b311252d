#include "llama_ops.h"

#include "ggml_expf.h"

#include <math.h>

#include "gelu.h"
#include "half.h"

// llama.cpp's flash attention over an f16 cache, step by step: q rounded to
// binary16, one pass over the positions with a running maximum M and sum S,
// and the weighted sum of values kept in binary16, rounded after every
// rescale and every multiply-add. The exponentials are correctly rounded
// (from double), as the SIMD versions compute them; llama.cpp's expf (glibc)
// differs from that by one ulp in about 6 of 10,000 arguments.
static void attn_f16_acc16(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, int32_t n_kv,
                           int32_t head_dim, float scale, float softcap, float *scratch, float *out) {
  float *qh = scratch;                                            // head_dim: q at binary16 precision
  uint16_t *acc = reinterpret_cast<uint16_t *>(scratch + head_dim); // head_dim halves
  for (int32_t i = 0; i < head_dim; i++) {
    qh[i] = kiln_f16_to_f32(kiln_f32_to_f16(q[i]));
    acc[i] = 0;
  }
  float M = -INFINITY, S = 0.0f;
  for (int32_t s = 0; s < n_kv; s++) {
    const uint16_t *kr = k + (size_t)s * stride, *vr = v + (size_t)s * stride;
    double dot = 0; // ggml's f16 dot product without SIMD: exact float products summed in double
    for (int32_t i = 0; i < head_dim; i++) dot += (double)(qh[i] * kiln_f16_to_f32(kr[i]));
    float x = (float)dot * scale;
    if (softcap != 0.0f) x = softcap * tanhf(x);
    float ms = 1.0f, vs = 1.0f;
    if (x > M) {
      ms = (float)exp((double)(M - x));
      M = x;
      for (int32_t i = 0; i < head_dim; i++) acc[i] = kiln_f32_to_f16(kiln_f16_to_f32(acc[i]) * ms);
    } else {
      vs = (float)exp((double)(x - M));
    }
    for (int32_t i = 0; i < head_dim; i++) acc[i] = kiln_f32_to_f16(fmaf(kiln_f16_to_f32(vr[i]), vs, kiln_f16_to_f32(acc[i])));
    S = S * ms + vs; // two roundings, as llama.cpp's builds (not fused; compiled with contraction off)
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  for (int32_t i = 0; i < head_dim; i++) out[i] = kiln_f16_to_f32(acc[i]) * inv;
  scratch[0] = M; // for attention sinks (llama_ops.h)
  scratch[1] = S;
}

// KILN_KV_F16_MM: llama.cpp's unfused attention over an f16 cache.
static void attn_f16_mm(const float *q, const uint16_t *k, const uint16_t *v, size_t stride, int32_t n_kv, int32_t head_dim,
                        float scale, float softcap, float *scratch, float *out) {
  float *qh = scratch + n_kv; // head_dim
  float *w = scratch;         // n_kv
  for (int32_t i = 0; i < head_dim; i++) qh[i] = kiln_f16_to_f32(kiln_f32_to_f16(q[i]));
  float mx = -INFINITY;
  for (int32_t s = 0; s < n_kv; s++) {
    const uint16_t *kr = k + (size_t)s * stride;
    double dot = 0;
    for (int32_t i = 0; i < head_dim; i++) dot += (double)(qh[i] * kiln_f16_to_f32(kr[i]));
    float x = (float)dot * scale;
    if (softcap != 0.0f) x = softcap * tanhf(x);
    w[s] = x;
    mx = x > mx ? x : mx;
  }
  double sum = 0;
  for (int32_t s = 0; s < n_kv; s++) {
    w[s] = (float)exp((double)(w[s] - mx));
    sum += w[s];
  }
  const float inv = (float)(1.0 / sum);
  for (int32_t s = 0; s < n_kv; s++) w[s] = kiln_f16_to_f32(kiln_f32_to_f16(w[s] * inv));
  for (int32_t i = 0; i < head_dim; i++) {
    double acc = 0;
    for (int32_t s = 0; s < n_kv; s++) acc += (double)(w[s] * kiln_f16_to_f32(v[(size_t)s * stride + i]));
    out[i] = (float)acc;
  }
}

extern "C" void kiln_attn_ref(const float *q, const void *k, const void *v, size_t stride, int32_t n_kv, int32_t head_dim,
                              float scale, float softcap, int kv_f16, float *scores, float *out) {
  if (softcap != 0.0f) scale /= softcap;
  if (kv_f16 == KILN_KV_F16_MM) {
    attn_f16_mm(q, static_cast<const uint16_t *>(k), static_cast<const uint16_t *>(v), stride, n_kv, head_dim, scale, softcap,
                scores, out);
    return;
  }
  if (kv_f16 == KILN_KV_F16_ACC16) {
    attn_f16_acc16(q, static_cast<const uint16_t *>(k), static_cast<const uint16_t *>(v), stride, n_kv, head_dim, scale,
                   softcap, scores, out);
    return;
  }
  float mx = -INFINITY;
  for (int32_t s = 0; s < n_kv; s++) {
    float dot = 0;
    if (kv_f16) {
      const uint16_t *kr = static_cast<const uint16_t *>(k) + (size_t)s * stride;
      for (int32_t i = 0; i < head_dim; i++) dot += q[i] * kiln_f16_to_f32(kr[i]);
    } else {
      const float *kr = static_cast<const float *>(k) + (size_t)s * stride;
      for (int32_t i = 0; i < head_dim; i++) dot += q[i] * kr[i];
    }
    scores[s] = dot * scale;
    if (softcap != 0.0f) scores[s] = softcap * tanhf(scores[s]);
    if (scores[s] > mx) mx = scores[s];
  }
  double sum = 0;
  for (int32_t s = 0; s < n_kv; s++) {
    const float ev = expf(scores[s] - mx);
    scores[s] = ev;
    sum += ev;
  }
  const float inv = (float)(1.0 / sum);
  for (int32_t i = 0; i < head_dim; i++) out[i] = 0;
  for (int32_t s = 0; s < n_kv; s++) {
    const float w = scores[s] * inv;
    if (kv_f16) {
      const uint16_t *vr = static_cast<const uint16_t *>(v) + (size_t)s * stride;
      for (int32_t i = 0; i < head_dim; i++) out[i] += w * kiln_f16_to_f32(vr[i]);
    } else {
      const float *vr = static_cast<const float *>(v) + (size_t)s * stride;
      for (int32_t i = 0; i < head_dim; i++) out[i] += w * vr[i];
    }
  }
}

extern "C" void kiln_attn_batch_ref(const float *const *q, float *const *out, const int32_t *kv0, const int32_t *n_kv, int nq,
                                    const void *k, const void *v, size_t stride, int32_t head_dim, float scale, float softcap,
                                    int kv_f16, float *scratch) {
  const size_t elem = kv_f16 != KILN_KV_F32 ? 2 : 4;
  for (int j = 0; j < nq; j++) {
    const size_t first = kv0 ? (size_t)kv0[j] : 0, skip = first * stride * elem;
    kiln_attn_ref(q[j], static_cast<const uint8_t *>(k) + skip, static_cast<const uint8_t *>(v) + skip, stride,
                  n_kv[j] - (int32_t)first, head_dim, scale, softcap, kv_f16, scratch, out[j]);
  }
}

// GELU (tanh form) through ggml's binary16 table, kiln_gelu (gelu.h, shared with the BERT encoder),
// times u; at or below -10 the product is 0 whatever u is, as in ggml's geglu.
extern "C" void kiln_gelu_mul_ref(const float *g, const float *u, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = g[i] <= -10.0f ? 0.0f : kiln_gelu(g[i]) * u[i];
}

// As llama.cpp's SSE2 builds (the x86 ones without AVX2): four lanes at a time
// with its vector expf, the last n % 4 with libm's (ref/ggml_expf.h).
extern "C" void kiln_silu_mul_ref(const float *g, const float *u, float *out, int64_t n) {
  const int64_t whole = n - n % 4;
  for (int64_t i = 0; i < whole; i++) out[i] = kiln_ggml_expf::silu_mul_vec(g[i], u[i]);
  for (int64_t i = whole; i < n; i++) out[i] = kiln_ggml_expf::silu_mul_tail(g[i], u[i]);
}

extern "C" void kiln_rmsnorm_ref(const float *x, const float *w, float eps, int64_t n, float *out) {
  double sum = 0;
  // each square rounded to float before the double sum, as ggml's rms_norm has it
  for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
  const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
  for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}
