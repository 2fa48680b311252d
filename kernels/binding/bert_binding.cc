// bertNew(params: object, weights: Float64Array, buffer: ArrayBuffer) -> handle
// bertEval(handle, tokens: Int32Array, out: Float32Array) -> floats written
// bertOutSize(handle, nTokens) -> floats one eval writes; bertFree(handle)
//
// params has named numeric fields (kernels/bert.ts, NativeBertParams), each
// checked here: a missing or non-number field is a TypeError, one out of
// range a RangeError, naming the field. Weights are (offset, type, ne0, ne1)
// quadruples into the mapped file (offset -1: absent), each byte range
// checked against the buffer before the encoder may touch it; the handle
// keeps the buffer referenced so the mapping outlives the model.
#include "napi_util.h"
#include "native_handle.h"
#include "weight_desc.h"

#include <math.h>

extern "C" {
#include "quants.h"
}
#include "bert/encoder.h"
#include "variant.h"

#include <vector>

namespace {

struct Handle {
  kiln_bert_ctx *ctx = nullptr;
  std::vector<kiln_bert_layer> layers;
  napi_ref buffer = nullptr;
  int32_t n_ctx = 0;
};

using Handles = NativeHandle<Handle, kiln_bert_ctx, kiln_bert_free>;

bool get_handle(napi_env env, napi_value v, Handle **out) { return Handles::get(env, v, "encoder", out); }

constexpr int kTopWeights = 9;
constexpr int kWeightsPerLayer = 19;


bool field(napi_env env, napi_value obj, const char *name, double *out) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) {
    kiln_throw(env, "cannot read params.%s", name);
    return false;
  }
  if (t != napi_number) {
    kiln_throw_type(env, t == napi_undefined ? "params.%s is missing (want a number)" : "params.%s must be a number", name);
    return false;
  }
  napi_get_value_double(env, v, out);
  if (!std::isfinite(*out)) {
    kiln_throw_range(env, "params.%s must be finite; got %g", name, *out);
    return false;
  }
  return true;
}

bool int_field(napi_env env, napi_value obj, const char *name, int32_t min, int32_t max, int32_t *out) {
  double d;
  if (!field(env, obj, name, &d)) return false;
  if (d != floor(d) || d < min || d > max) {
    kiln_throw_range(env, "params.%s must be an integer in [%d, %d]; got %g", name, min, max, d);
    return false;
  }
  *out = (int32_t)d;
  return true;
}

bool float_field(napi_env env, napi_value obj, const char *name, float *out) {
  double d;
  if (!field(env, obj, name, &d)) return false;
  if (!(d > 0) || d > 3.4e38) {
    kiln_throw_range(env, "params.%s must be a positive float32; got %g", name, d);
    return false;
  }
  *out = (float)d;
  return true;
}

bool read_params(napi_env env, napi_value obj, kiln_bert_params *p) {
  napi_valuetype t;
  napi_typeof(env, obj, &t);
  if (t != napi_object) {
    kiln_throw_type(env, "params must be an object");
    return false;
  }
  const int32_t big = INT32_MAX;
  return int_field(env, obj, "nVocab", 1, big, &p->n_vocab) && int_field(env, obj, "nEmbd", 1, big, &p->n_embd) &&
         int_field(env, obj, "nLayer", 1, 4096, &p->n_layer) && int_field(env, obj, "nHead", 1, big, &p->n_head) &&
         int_field(env, obj, "nHeadKv", 1, big, &p->n_head_kv) && int_field(env, obj, "nFf", 1, big, &p->n_ff) &&
         int_field(env, obj, "headDim", 1, big, &p->head_dim) && int_field(env, obj, "nRot", 0, big, &p->n_rot) &&
         int_field(env, obj, "rope", 0, 1, &p->rope) && float_field(env, obj, "ropeBase", &p->rope_base) &&
         float_field(env, obj, "ropeFreqScale", &p->rope_freq_scale) && float_field(env, obj, "normEps", &p->norm_eps) &&
         int_field(env, obj, "nCtx", 1, big, &p->n_ctx) && int_field(env, obj, "pooling", 0, KILN_POOL_RANK, &p->pooling) &&
         int_field(env, obj, "variant", 0, KILN_VARIANT_COUNT - 1, &p->variant);
}

napi_value bert_new(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!kiln_get_args(env, info, 3, argv)) return nullptr;
  kiln_bert_model m{};
  if (!read_params(env, argv[0], &m.p)) return nullptr;
  const double *W;
  const uint8_t *b;
  size_t size;
  if (!kiln_read_weight_args(env, argv[1], argv[2], (size_t)(kTopWeights + kWeightsPerLayer * m.p.n_layer), &W, &b, &size)) return nullptr;
  Handle *h = new Handle();
  h->layers.resize(m.p.n_layer);
  kiln_weight *top[kTopWeights] = {&m.tok_embd, &m.type_embd, &m.pos_embd, &m.tok_norm, &m.tok_norm_b,
                                   &m.cls,      &m.cls_b,     &m.cls_out,  &m.cls_out_b};
  bool ok = true;
  for (int i = 0; ok && i < kTopWeights; i++) ok = kiln_read_weight(env, W + 4 * i, b, size, top[i]);
  for (int l = 0; ok && l < m.p.n_layer; l++) {
    kiln_bert_layer &L = h->layers[l];
    kiln_weight *lw[kWeightsPerLayer] = {&L.wqkv, &L.bqkv, &L.wq, &L.wk, &L.wv, &L.bq, &L.bk, &L.bv, &L.wo, &L.bo,
                                         &L.attn_out_norm, &L.attn_out_norm_b, &L.w_up, &L.b_up, &L.w_gate, &L.w_down,
                                         &L.b_down, &L.out_norm, &L.out_norm_b};
    for (int i = 0; ok && i < kWeightsPerLayer; i++)
      ok = kiln_read_weight(env, W + 4 * (kTopWeights + kWeightsPerLayer * l + i), b, size, lw[i]);
  }
  if (!ok) {
    delete h;
    return nullptr;
  }
  m.layers = h->layers.data();
  const char *err = nullptr;
  h->ctx = kiln_bert_new(&m, &err);
  if (!h->ctx) {
    delete h;
    return kiln_throw(env, "cannot create the encoder: %s", err ? err : "unknown error");
  }
  h->n_ctx = m.p.n_ctx;
  napi_create_reference(env, argv[2], 1, &h->buffer);
  napi_value out;
  if (napi_create_external(env, h, Handles::finalize, nullptr, &out) != napi_ok) {
    Handles::finalize(env, h, nullptr);
    return kiln_throw(env, "cannot create the encoder handle");
  }
  return out;
}

napi_value bert_out_size(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!kiln_get_args(env, info, 2, argv)) return nullptr;
  Handle *h;
  int64_t n;
  if (!get_handle(env, argv[0], &h) || !kiln_get_int64(env, argv[1], "nTokens", &n)) return nullptr;
  if (n < 1 || n > h->n_ctx) return kiln_throw_range(env, "nTokens %lld is out of range (1 to %d)", (long long)n, h->n_ctx);
  napi_value r;
  napi_create_double(env, (double)kiln_bert_out_size(h->ctx, (int32_t)n), &r);
  return r;
}

napi_value bert_eval(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!kiln_get_args(env, info, 3, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  void *tp, *op;
  size_t tn, on;
  if (!kiln_get_typed(env, argv[1], napi_int32_array, "tokens", &tp, &tn) ||
      !kiln_get_typed(env, argv[2], napi_float32_array, "out", &op, &on))
    return nullptr;
  if (tn == 0 || tn > (size_t)h->n_ctx) return kiln_throw(env, "input of %zu tokens does not fit the context (%d)", tn, h->n_ctx);
  const int64_t need = kiln_bert_out_size(h->ctx, (int32_t)tn);
  if ((int64_t)on < need) return kiln_throw(env, "out holds %zu floats, %lld needed", on, (long long)need);
  const char *err = nullptr;
  if (kiln_bert_eval(h->ctx, static_cast<const int32_t *>(tp), (int32_t)tn, static_cast<float *>(op), &err) != 0)
    return kiln_throw(env, "%s", err ? err : "evaluation failed");
  napi_value r;
  napi_create_double(env, (double)need, &r);
  return r;
}

napi_value bert_free(napi_env env, napi_callback_info info) { return Handles::free_js(env, info, "encoder"); }

} // namespace

void kiln_register_bert(napi_env env, napi_value exports) {
  kiln_export(env, exports, "bertNew", bert_new);
  kiln_export(env, exports, "bertEval", bert_eval);
  kiln_export(env, exports, "bertOutSize", bert_out_size);
  kiln_export(env, exports, "bertFree", bert_free);
}
