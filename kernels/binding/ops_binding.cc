// The llama layer's non-matmul ops of one kernel variant, for the kernel tests:
// attention(q, k, v, stride, nKv, headDim, scale, kvMode, out, variant),
// attentionBatch(q, nKv, k, v, stride, headDim, scale, kvMode, out, variant),
// siluMul(g, u, out, variant), rmsnorm(x, w, eps, out, variant). Sizes are
// checked against every buffer before the kernel runs.
#include "napi_util.h"

#include <vector>

extern "C" {
#include "ref/llama_ops.h"
#include "variant.h"
}

namespace {

bool get_table(napi_env env, napi_value v, const kiln_kernel_table **out) {
  int64_t x;
  if (!kiln_get_int64(env, v, "variant", &x)) return false;
  if (x < 0 || x >= KILN_VARIANT_COUNT || !kiln_variant_supported(static_cast<kiln_variant>(x))) {
    kiln_throw(env, "kernel variant %lld is not supported on this CPU", static_cast<long long>(x));
    return false;
  }
  *out = kiln_kernels_for(static_cast<kiln_variant>(x));
  return true;
}

bool get_f32(napi_env env, napi_value v, const char *what, float **p, size_t *n) {
  void *d;
  if (!kiln_get_typed(env, v, napi_float32_array, what, &d, n)) return false;
  *p = static_cast<float *>(d);
  return true;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// An optional trailing number argument (undefined: 0).
bool opt_number(napi_env env, napi_value v, const char *what, double *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  *out = 0;
  if (t == napi_undefined) return true;
  if (t != napi_number || napi_get_value_double(env, v, out) != napi_ok || !(*out >= 0) || *out > 3.4e38) {
    kiln_throw(env, "%s must be a number >= 0", what);
    return false;
  }
  return true;
}

// attention(q, k, v, stride, nKv, headDim, scale, kvMode, out, variant[, softcap])
napi_value attention(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  if (!kiln_get_args(env, info, 10, argv)) return nullptr;
  size_t argc = 11;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 11) napi_get_undefined(env, &argv[10]);
  double softcap;
  if (!opt_number(env, argv[10], "softcap", &softcap)) return nullptr;
  float *q, *out;
  void *k, *v;
  size_t qn, kn, vn, on;
  int64_t stride, n_kv, hd, mode;
  double scale;
  const kiln_kernel_table *kt;
  if (!get_f32(env, argv[0], "q", &q, &qn) || !kiln_get_typed(env, argv[1], napi_uint8_array, "k", &k, &kn) ||
      !kiln_get_typed(env, argv[2], napi_uint8_array, "v", &v, &vn) || !kiln_get_int64(env, argv[3], "stride", &stride) ||
      !kiln_get_int64(env, argv[4], "nKv", &n_kv) || !kiln_get_int64(env, argv[5], "headDim", &hd) ||
      napi_get_value_double(env, argv[6], &scale) != napi_ok || !kiln_get_int64(env, argv[7], "kvMode", &mode) ||
      !get_f32(env, argv[8], "out", &out, &on) || !get_table(env, argv[9], &kt))
    return nullptr;
  if (hd < 1 || hd > 4096 || n_kv < 1 || n_kv > (1 << 24) || stride < hd || stride > (1 << 24))
    return kiln_throw(env, "bad attention shape");
  const size_t elem = mode != KILN_KV_F32 ? 2 : 4, need = ((size_t)(n_kv - 1) * (size_t)stride + (size_t)hd) * elem;
  if (qn < (size_t)hd || on < (size_t)hd || kn < need || vn < need) return kiln_throw(env, "attention buffers are too small");
  if (mode < KILN_KV_F32 || mode > KILN_KV_F16_MM) return kiln_throw(env, "kvMode must be 0, 1, 2 or 3");
  std::vector<float> scratch(kiln_attn_scratch((int32_t)n_kv, (int32_t)hd));
  kt->attn(q, k, v, (size_t)stride, (int32_t)n_kv, (int32_t)hd, (float)scale, (float)softcap, (int)mode, scratch.data(), out);
  return undefined(env);
}

// attentionBatch(q, nKv: Int32Array, k, v, stride, headDim, scale, kvMode, out, variant[, softcap[, kv0: Int32Array]]):
// query j is q[j * headDim ..], writes out[j * headDim ..], sees positions [kv0[j], nKv[j]) (kv0 absent: from 0).
napi_value attention_batch(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  if (!kiln_get_args(env, info, 10, argv)) return nullptr;
  size_t argc = 12;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  for (size_t i = argc; i < 12; i++) napi_get_undefined(env, &argv[i]);
  double softcap;
  if (!opt_number(env, argv[10], "softcap", &softcap)) return nullptr;
  const int32_t *kv0 = nullptr;
  size_t n_kv0 = 0;
  {
    napi_valuetype t;
    napi_typeof(env, argv[11], &t);
    if (t != napi_undefined && t != napi_null) {
      void *p;
      if (!kiln_get_typed(env, argv[11], napi_int32_array, "kv0", &p, &n_kv0)) return nullptr;
      kv0 = static_cast<const int32_t *>(p);
    }
  }
  float *q, *out;
  void *k, *v, *nk;
  size_t qn, kn, vn, on, nq;
  int64_t stride, hd, mode;
  double scale;
  const kiln_kernel_table *kt;
  if (!get_f32(env, argv[0], "q", &q, &qn) || !kiln_get_typed(env, argv[1], napi_int32_array, "nKv", &nk, &nq) ||
      !kiln_get_typed(env, argv[2], napi_uint8_array, "k", &k, &kn) || !kiln_get_typed(env, argv[3], napi_uint8_array, "v", &v, &vn) ||
      !kiln_get_int64(env, argv[4], "stride", &stride) || !kiln_get_int64(env, argv[5], "headDim", &hd) ||
      napi_get_value_double(env, argv[6], &scale) != napi_ok || !kiln_get_int64(env, argv[7], "kvMode", &mode) ||
      !get_f32(env, argv[8], "out", &out, &on) || !get_table(env, argv[9], &kt))
    return nullptr;
  const int32_t *n_kv = static_cast<const int32_t *>(nk);
  if (mode < KILN_KV_F32 || mode > KILN_KV_F16_MM) return kiln_throw(env, "kvMode must be 0, 1, 2 or 3");
  if (kv0 && n_kv0 != nq) return kiln_throw(env, "kv0 must have one entry per query");
  if (hd < 1 || hd > 4096 || stride < hd || stride > (1 << 24) || nq < 1 || nq > 4096) return kiln_throw(env, "bad attention shape");
  int32_t n_max = 0;
  for (size_t j = 0; j < nq; j++) {
    if (n_kv[j] < 1 || n_kv[j] > (1 << 24)) return kiln_throw(env, "nKv out of range");
    n_max = n_kv[j] > n_max ? n_kv[j] : n_max;
    if (kv0 && (kv0[j] < 0 || kv0[j] >= n_kv[j])) return kiln_throw(env, "kv0 out of range");
  }
  const size_t elem = mode != KILN_KV_F32 ? 2 : 4, need = ((size_t)(n_max - 1) * (size_t)stride + (size_t)hd) * elem;
  if (qn < nq * (size_t)hd || on < nq * (size_t)hd || kn < need || vn < need) return kiln_throw(env, "attention buffers are too small");
  std::vector<const float *> qs(nq);
  std::vector<float *> outs(nq);
  for (size_t j = 0; j < nq; j++) {
    qs[j] = q + j * (size_t)hd;
    outs[j] = out + j * (size_t)hd;
  }
  std::vector<float> scratch(kiln_attn_batch_scratch((int)nq, n_max, (int32_t)hd));
  kt->attn_batch(qs.data(), outs.data(), kv0, n_kv, (int)nq, k, v, (size_t)stride, (int32_t)hd, (float)scale, (float)softcap,
                 (int)mode, scratch.data());
  return undefined(env);
}

napi_value silu_mul(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!kiln_get_args(env, info, 4, argv)) return nullptr;
  float *g, *u, *out;
  size_t gn, un, on;
  const kiln_kernel_table *kt;
  if (!get_f32(env, argv[0], "g", &g, &gn) || !get_f32(env, argv[1], "u", &u, &un) || !get_f32(env, argv[2], "out", &out, &on) ||
      !get_table(env, argv[3], &kt))
    return nullptr;
  if (gn < on || un < on) return kiln_throw(env, "g and u must hold out.length values");
  kt->silu_mul(g, u, out, (int64_t)on);
  return undefined(env);
}

napi_value rmsnorm(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!kiln_get_args(env, info, 5, argv)) return nullptr;
  float *x, *w, *out;
  size_t xn, wn, on;
  double eps;
  const kiln_kernel_table *kt;
  if (!get_f32(env, argv[0], "x", &x, &xn) || !get_f32(env, argv[1], "w", &w, &wn) ||
      napi_get_value_double(env, argv[2], &eps) != napi_ok || !get_f32(env, argv[3], "out", &out, &on) ||
      !get_table(env, argv[4], &kt))
    return nullptr;
  if (on < 1 || xn < on || wn < on) return kiln_throw(env, "x and w must hold out.length (> 0) values");
  kt->rmsnorm(x, w, (float)eps, (int64_t)on, out);
  return undefined(env);
}

} // namespace

void kiln_register_ops(napi_env env, napi_value exports) {
  kiln_export(env, exports, "attention", attention);
  kiln_export(env, exports, "attentionBatch", attention_batch);
  kiln_export(env, exports, "siluMul", silu_mul);
  kiln_export(env, exports, "rmsnorm", rmsnorm);
}
