// llamaNew(params: object, weights: Float64Array, buffer: ArrayBuffer) -> handle
// llamaEval(handle, tokens: Int32Array, pos0, logits: Float32Array | null, allLogits) -> undefined
// llamaTruncate(handle, pos); llamaShift(handle, keep, discard) -> n; llamaHidden(handle, out: Float32Array) -> n tokens; llamaFree(handle)
// llamaObserve(handle, on): while on, every matmul's input is summed per column (squares) and counted;
// llamaImatrix(handle) -> Float64Array[] of [file offset of the weight, rows counted, sum of squares per column...]
//
// params is an object with named fields (kernels/llama.ts, NativeLlamaParams),
// read into kiln_llama_params one by one: a field of the wrong kind is a
// TypeError, one out of range a RangeError, each naming the field. Positions
// (pos0, pos) that do not fit the native int32 positions are RangeErrors too.
//
// Weights are (offset, type, ne0, ne1) quadruples into one mapped file buffer;
// every tensor's byte range is checked against the buffer here, again, before
// the forward pass may touch it. The handle keeps the buffer referenced so the
// mapping outlives the model.
#include "napi_util.h"
#include "native_handle.h"
#include "weight_desc.h"

#include <math.h>
#include <cmath>
#include <string.h>

extern "C" {
#include "quants.h"
}
#include "llama/forward.h"
#include "variant.h"

#include <map>
#include <vector>

namespace {

// Sums of squared matmul inputs per weight (an importance matrix in the making).
struct ImatrixAcc {
  std::vector<double> sum2;
  double count = 0;
};

struct Handle {
  kiln_llama_ctx *ctx = nullptr;
  std::vector<kiln_llama_layer> layers;
  napi_ref buffer = nullptr;
  int32_t n_vocab = 0, n_embd = 0, n_ctx = 0, n_seq = 1, n_expert_used = 0;
  const uint8_t *base = nullptr;
  std::map<const void *, ImatrixAcc> imatrix;
};

void observe_matmul(void *user, const kiln_weight *w, const float *x, int32_t n) {
  ImatrixAcc &a = static_cast<Handle *>(user)->imatrix[w->data];
  if (a.sum2.empty()) a.sum2.assign((size_t)w->ne0, 0.0);
  double *s = a.sum2.data();
  for (int32_t t = 0; t < n; t++) {
    const float *row = x + (int64_t)t * w->ne0;
    for (int64_t i = 0; i < w->ne0; i++) s[i] += (double)row[i] * row[i];
  }
  a.count += n;
}

using Handles = NativeHandle<Handle, kiln_llama_ctx, kiln_llama_free>;

bool get_handle(napi_env env, napi_value v, Handle **out) { return Handles::get(env, v, "model", out); }

const int kWeightsPerLayer = 31;
const int kTopWeights = 4;


// Reads the named fields of the params object, checking each one.
class ParamReader {
 public:
  ParamReader(napi_env env, napi_value obj) : env_(env), obj_(obj) {}
  napi_env env() const { return env_; }

  bool number(const char *name, double *out) {
    napi_value v;
    if (!get(name, &v)) return false;
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    if (t != napi_number) return kind_error(name, t, "a number");
    napi_get_value_double(env_, v, out);
    if (!std::isfinite(*out)) {
      kiln_throw_range(env_, "params.%s must be finite; got %g", name, *out);
      return false;
    }
    return true;
  }

  bool int32(const char *name, int32_t min, int32_t max, int32_t *out) {
    double d;
    if (!number(name, &d)) return false;
    if (d != floor(d) || d < min || d > max) {
      kiln_throw_range(env_, "params.%s must be an integer in [%d, %d]; got %g", name, min, max, d);
      return false;
    }
    *out = (int32_t)d;
    return true;
  }

  // A positive float32 (a rope base, a scale, an epsilon).
  bool positive_float(const char *name, float *out) {
    double d;
    if (!number(name, &d)) return false;
    if (!(d > 0) || d > 3.4e38) {
      kiln_throw_range(env_, "params.%s must be a positive float32; got %g", name, d);
      return false;
    }
    *out = (float)d;
    return true;
  }

  // Whether an optional field is there (false also when it cannot be read: *error says which).
  bool has(const char *name, bool *error) {
    napi_value v;
    *error = !get(name, &v);
    if (*error) return false;
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    return t != napi_undefined;
  }

  // An optional float32 >= 0 (absent: def).
  bool opt_nonneg_float(const char *name, float def, float *out) {
    bool error;
    if (!has(name, &error)) {
      *out = def;
      return !error;
    }
    double d;
    if (!number(name, &d)) return false;
    if (!(d >= 0) || d > 3.4e38) {
      kiln_throw_range(env_, "params.%s must be a float32 >= 0; got %g", name, d);
      return false;
    }
    *out = (float)d;
    return true;
  }

  // An optional integer in [min, max] (absent: def).
  bool opt_int32(const char *name, int32_t min, int32_t max, int32_t def, int32_t *out) {
    bool error;
    if (!has(name, &error)) {
      *out = def;
      return !error;
    }
    return int32(name, min, max, out);
  }

  // An optional KV cache element type: 'f16', 'q8_0' or 'q4_0' (absent: 0, the kvCache type).
  bool opt_kv_type(const char *name, int32_t *out) {
    bool error;
    *out = 0;
    if (!has(name, &error)) return !error;
    napi_value v;
    if (!get(name, &v)) return false;
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    if (t != napi_string) return kind_error(name, t, "'f16', 'q8_0' or 'q4_0'");
    char buf[8];
    size_t len = 0;
    napi_get_value_string_utf8(env_, v, buf, sizeof buf, &len);
    if (strcmp(buf, "f16") == 0) {
      *out = KILN_TYPE_F16;
    } else if (strcmp(buf, "q8_0") == 0) {
      *out = KILN_TYPE_Q8_0;
    } else if (strcmp(buf, "q4_0") == 0) {
      *out = KILN_TYPE_Q4_0;
    } else {
      kiln_throw_range(env_, "params.%s must be 'f16', 'q8_0' or 'q4_0'; got '%s'", name, buf);
      return false;
    }
    return true;
  }

  // An optional boolean (absent: false).
  bool opt_boolean(const char *name, bool *out) {
    bool error;
    *out = false;
    if (!has(name, &error)) return !error;
    return boolean(name, out);
  }

  bool boolean(const char *name, bool *out) {
    napi_value v;
    if (!get(name, &v)) return false;
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    if (t != napi_boolean) return kind_error(name, t, "a boolean");
    napi_get_value_bool(env_, v, out);
    return true;
  }

  bool kv_cache(const char *name, kiln_kv_cache *out) {
    napi_value v;
    if (!get(name, &v)) return false;
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    if (t != napi_string) return kind_error(name, t, "'f32' or 'f16'");
    char buf[8];
    size_t len = 0;
    napi_get_value_string_utf8(env_, v, buf, sizeof buf, &len);
    if (len == 3 && strcmp(buf, "f32") == 0) {
      *out = kiln_kv_cache::f32;
    } else if (len == 3 && strcmp(buf, "f16") == 0) {
      *out = kiln_kv_cache::f16;
    } else {
      kiln_throw_range(env_, "params.%s must be 'f32' or 'f16'; got '%s'", name, buf);
      return false;
    }
    return true;
  }

 private:
  bool get(const char *name, napi_value *v) {
    if (napi_get_named_property(env_, obj_, name, v) != napi_ok) {
      kiln_throw(env_, "cannot read params.%s", name);
      return false;
    }
    return true;
  }

  bool kind_error(const char *name, napi_valuetype t, const char *want) {
    if (t == napi_undefined)
      kiln_throw_type(env_, "params.%s is missing (want %s)", name, want);
    else
      kiln_throw_type(env_, "params.%s must be %s", name, want);
    return false;
  }

  napi_env env_;
  napi_value obj_;
};

bool read_gpu_output(ParamReader &r, kiln_llama_params *p) {
  bool on = false;
  if (!r.opt_boolean("gpuOutput", &on)) return false;
  p->gpu_output = on ? 1 : 0;
  return true;
}

// The mixture-of-experts fields: all optional (absent: no experts).
bool read_moe_params(ParamReader &r, kiln_llama_params *p) {
  const int32_t big = INT32_MAX;
  bool norm = false;
  if (!r.opt_int32("nExpert", 0, 4096, 0, &p->n_expert) || !r.opt_int32("nExpertUsed", 0, 4096, 0, &p->n_expert_used) ||
      !r.opt_int32("nFfExp", 0, big, 0, &p->n_ff_exp) || !r.opt_int32("nFfShexp", 0, big, 0, &p->n_ff_shexp) ||
      !r.opt_int32("expertGating", KILN_GATING_SOFTMAX, KILN_GATING_SOFTMAX_WEIGHT, KILN_GATING_SOFTMAX, &p->expert_gating) ||
      !r.opt_boolean("expertWeightsNorm", &norm) || !r.opt_nonneg_float("expertWeightsScale", 0, &p->expert_weights_scale))
    return false;
  p->expert_weights_norm = norm ? 1 : 0;
  if (p->n_expert_used > p->n_expert) {
    kiln_throw_range(r.env(), "params.nExpertUsed (%d) must be at most params.nExpert (%d)", p->n_expert_used, p->n_expert);
    return false;
  }
  return true;
}

// gpt-oss's clamped SwiGLU and YaRN RoPE: optional (absent or 0: off).
bool read_gpt_oss_params(ParamReader &r, kiln_llama_params *p) {
  return r.opt_nonneg_float("swigluOaiAlpha", 0, &p->swiglu_oai_alpha) && r.opt_nonneg_float("swigluOaiLimit", 0, &p->swiglu_oai_limit) &&
         r.opt_nonneg_float("yarnExtFactor", 0, &p->yarn_ext_factor) && r.opt_nonneg_float("yarnBetaFast", 32, &p->yarn_beta_fast) &&
         r.opt_nonneg_float("yarnBetaSlow", 1, &p->yarn_beta_slow) && r.opt_int32("yarnOrigCtx", 0, INT32_MAX, 0, &p->yarn_orig_ctx);
}

bool read_params(napi_env env, napi_value obj, kiln_llama_params *p) {
  napi_valuetype t;
  napi_typeof(env, obj, &t);
  if (t != napi_object) {
    kiln_throw_type(env, "params must be an object");
    return false;
  }
  ParamReader r(env, obj);
  bool neox = false;
  const int32_t big = INT32_MAX;
  const bool ok = r.int32("nVocab", 1, big, &p->n_vocab) && r.int32("nEmbd", 1, big, &p->n_embd) &&
                  r.int32("nLayer", 1, 4096, &p->n_layer) && r.int32("nHead", 1, big, &p->n_head) &&
                  r.int32("nHeadKv", 1, big, &p->n_head_kv) && r.int32("nFf", 1, big, &p->n_ff) &&
                  r.int32("headDim", 1, big, &p->head_dim) && r.int32("nRot", 1, big, &p->n_rot) &&
                  r.boolean("ropeNeox", &neox) && r.positive_float("ropeBase", &p->rope_base) &&
                  r.positive_float("ropeFreqScale", &p->rope_freq_scale) && r.positive_float("rmsEps", &p->rms_eps) &&
                  r.int32("nCtx", 1, big, &p->n_ctx) && r.kv_cache("kvCache", &p->kv_cache) &&
                  r.int32("variant", 0, KILN_VARIANT_COUNT - 1, &p->variant) &&
                  r.positive_float("ropeAttnFactor", &p->rope_attn_factor);
  p->rope_neox = neox ? 1 : 0;
  if (!ok) return false;
  // gemma2 / gemma3 fields: optional, absent means off
  bool gelu = false, unfused = false;
  if (!r.opt_boolean("ffnGelu", &gelu) || !r.opt_boolean("attnUnfused", &unfused)) return false;
  if (!r.opt_int32("nSeq", 1, 256, 1, &p->n_seq)) return false;
  p->ffn_gelu = gelu ? 1 : 0;
  p->attn_unfused = unfused ? 1 : 0;
  return r.opt_nonneg_float("embdScale", 0, &p->embd_scale) && r.opt_nonneg_float("attnQScale", 0, &p->attn_q_scale) &&
         r.opt_nonneg_float("attnSoftcap", 0, &p->attn_softcap) && r.opt_nonneg_float("finalSoftcap", 0, &p->final_softcap) &&
         r.opt_int32("nSwa", 0, big, 0, &p->n_swa) && r.opt_int32("swaPattern", 0, 4096, 0, &p->swa_pattern) &&
         r.opt_nonneg_float("ropeBaseSwa", p->rope_base, &p->rope_base_swa) &&
         r.opt_nonneg_float("ropeFreqScaleSwa", p->rope_freq_scale, &p->rope_freq_scale_swa) &&
         r.opt_int32("nGpuLayers", 0, 4096, 0, &p->n_gpu_layers) && r.opt_kv_type("kvTypeK", &p->kv_type_k) &&
         r.opt_kv_type("kvTypeV", &p->kv_type_v) && read_gpu_output(r, p) && read_moe_params(r, p) && read_gpt_oss_params(r, p);
}

// A position argument: a safe integer that fits the native int32 positions.
bool get_pos(napi_env env, napi_value v, const char *what, int32_t *out) {
  int64_t x;
  if (!kiln_get_int64(env, v, what, &x)) return false;
  if (x < 0 || x > INT32_MAX) {
    kiln_throw_range(env, "%s %lld is out of range (0 to %d)", what, (long long)x, INT32_MAX);
    return false;
  }
  *out = (int32_t)x;
  return true;
}

napi_value llama_new(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!kiln_get_args(env, info, 3, argv)) return nullptr;
  kiln_llama_model m{};
  if (!read_params(env, argv[0], &m.p)) return nullptr;
  const double *W;
  const uint8_t *b;
  size_t size;
  if (!kiln_read_weight_args(env, argv[1], argv[2], (size_t)(kTopWeights + kWeightsPerLayer * m.p.n_layer), &W, &b, &size)) return nullptr;
  Handle *h = new Handle();
  h->layers.resize(m.p.n_layer);
  kiln_weight *top[kTopWeights] = {&m.tok_embd, &m.output_norm, &m.output, &m.rope_freqs};
  bool ok = true;
  for (int i = 0; ok && i < kTopWeights; i++) ok = kiln_read_weight(env, W + 4 * i, b, size, top[i]);
  for (int l = 0; ok && l < m.p.n_layer; l++) {
    kiln_llama_layer &L = h->layers[l];
    kiln_weight *lw[kWeightsPerLayer] = {&L.attn_norm,   &L.wq,          &L.wk,     &L.wv,             &L.wo,
                                         &L.bq,          &L.bk,          &L.bv,     &L.ffn_norm,       &L.w_gate,
                                         &L.w_up,        &L.w_down,      &L.attn_q_norm, &L.attn_k_norm, &L.wqkv,
                                         &L.attn_post_norm, &L.ffn_post_norm,
                                         &L.ffn_gate_inp, &L.ffn_gate_exps, &L.ffn_up_exps, &L.ffn_down_exps,
                                         &L.ffn_gate_inp_shexp, &L.ffn_gate_shexp, &L.ffn_up_shexp, &L.ffn_down_shexp,
                                         &L.attn_sinks, &L.bo, &L.ffn_gate_inp_b, &L.ffn_gate_exps_b, &L.ffn_up_exps_b,
                                         &L.ffn_down_exps_b};
    for (int i = 0; ok && i < kWeightsPerLayer; i++) ok = kiln_read_weight(env, W + 4 * (kTopWeights + kWeightsPerLayer * l + i), b, size, lw[i]);
  }
  if (!ok) {
    delete h;
    return nullptr;
  }
  m.layers = h->layers.data();
  const char *err = nullptr;
  h->ctx = kiln_llama_new(&m, &err);
  if (!h->ctx) {
    delete h;
    return kiln_throw(env, "cannot create the model: %s", err ? err : "unknown error");
  }
  h->n_vocab = m.p.n_vocab;
  h->n_embd = m.p.n_embd;
  h->n_ctx = m.p.n_ctx;
  h->n_expert_used = m.p.n_expert_used;
  h->base = b;
  h->n_seq = m.p.n_seq > 0 ? m.p.n_seq : 1;
  napi_create_reference(env, argv[2], 1, &h->buffer);
  napi_value out;
  if (napi_create_external(env, h, Handles::finalize, nullptr, &out) != napi_ok) {
    Handles::finalize(env, h, nullptr);
    return kiln_throw(env, "cannot create the model handle");
  }
  return out;
}

napi_value llama_eval(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!kiln_get_args(env, info, 5, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  void *tp;
  size_t tn;
  if (!kiln_get_typed(env, argv[1], napi_int32_array, "tokens", &tp, &tn)) return nullptr;
  int32_t pos0;
  int64_t all;
  if (!get_pos(env, argv[2], "pos0", &pos0) || !kiln_get_int64(env, argv[4], "allLogits", &all)) return nullptr;
  napi_valuetype vt;
  napi_typeof(env, argv[3], &vt);
  float *logits = nullptr;
  if (vt != napi_null && vt != napi_undefined) {
    void *lp;
    size_t ln;
    if (!kiln_get_typed(env, argv[3], napi_float32_array, "logits", &lp, &ln)) return nullptr;
    const size_t need = (size_t)h->n_vocab * (all ? tn : 1);
    if (ln < need) return kiln_throw(env, "logits holds %zu floats, %zu needed", ln, need);
    logits = static_cast<float *>(lp);
  }
  if (tn == 0 || tn > (size_t)h->n_ctx) return kiln_throw(env, "batch of %zu tokens does not fit the context", tn);
  const char *err = nullptr;
  if (kiln_llama_eval(h->ctx, static_cast<const int32_t *>(tp), (int32_t)tn, pos0, logits, (int32_t)all, &err) != 0)
    return kiln_throw(env, "%s", err ? err : "evaluation failed");
  return nullptr;
}

// A sequence argument: one of the handle's cache regions.
bool get_seq(napi_env env, napi_value v, const Handle *h, int32_t *out) {
  int64_t x;
  if (!kiln_get_int64(env, v, "seq", &x)) return false;
  if (x < 0 || x >= h->n_seq) {
    kiln_throw_range(env, "seq %lld is out of range (0 to %d)", (long long)x, h->n_seq - 1);
    return false;
  }
  *out = (int32_t)x;
  return true;
}

// llamaDecode(handle, tokens, pos, seq, out, logits | null): the batch's entries as three Int32Arrays of one
// length, the entries whose logits are wanted (indices) and room for them.
napi_value llama_decode(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!kiln_get_args(env, info, 6, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  void *tp, *pp, *sp, *op;
  size_t tn, pn, sn, on;
  if (!kiln_get_typed(env, argv[1], napi_int32_array, "tokens", &tp, &tn) ||
      !kiln_get_typed(env, argv[2], napi_int32_array, "pos", &pp, &pn) ||
      !kiln_get_typed(env, argv[3], napi_int32_array, "seq", &sp, &sn) ||
      !kiln_get_typed(env, argv[4], napi_int32_array, "out", &op, &on))
    return nullptr;
  if (pn != tn || sn != tn) return kiln_throw(env, "tokens, pos and seq must have one length");
  if (tn == 0 || tn > (size_t)h->n_ctx * (size_t)h->n_seq) return kiln_throw(env, "batch of %zu tokens does not fit the context", tn);
  if (on > tn) return kiln_throw(env, "more outputs than entries");
  napi_valuetype vt;
  napi_typeof(env, argv[5], &vt);
  float *logits = nullptr;
  if (vt != napi_null && vt != napi_undefined) {
    void *lp;
    size_t ln;
    if (!kiln_get_typed(env, argv[5], napi_float32_array, "logits", &lp, &ln)) return nullptr;
    const size_t need = (size_t)h->n_vocab * on;
    if (ln < need) return kiln_throw(env, "logits holds %zu floats, %zu needed", ln, need);
    logits = static_cast<float *>(lp);
  }
  const char *err = nullptr;
  if (kiln_llama_decode(h->ctx, static_cast<const int32_t *>(tp), static_cast<const int32_t *>(pp), static_cast<const int32_t *>(sp),
                        (int32_t)tn, static_cast<const int32_t *>(op), (int32_t)on, logits, &err) != 0)
    return kiln_throw(env, "%s", err ? err : "evaluation failed");
  return nullptr;
}

// llamaTruncate(handle, pos, seq)
napi_value llama_truncate(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!kiln_get_args(env, info, 3, argv)) return nullptr;
  Handle *h;
  int64_t pos;
  int32_t seq;
  if (!get_handle(env, argv[0], &h) || !kiln_get_int64(env, argv[1], "pos", &pos) || !get_seq(env, argv[2], h, &seq)) return nullptr;
  // Truncating at or past the cached positions keeps them all, so clamping (rather than wrapping) is exact.
  kiln_llama_truncate(h->ctx, seq, pos < 0 ? 0 : pos > INT32_MAX ? INT32_MAX : (int32_t)pos);
  return nullptr;
}

// llamaSeqLen(handle, seq) -> cached positions of the sequence
napi_value llama_seq_len(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!kiln_get_args(env, info, 2, argv)) return nullptr;
  Handle *h;
  int32_t seq;
  if (!get_handle(env, argv[0], &h) || !get_seq(env, argv[1], h, &seq)) return nullptr;
  napi_value r;
  napi_create_int32(env, kiln_llama_seq_len(h->ctx, seq), &r);
  return r;
}

// llamaKvSave(handle, seq, pos0, n) -> ArrayBuffer with the positions' keys and values (kiln_llama_kv_save's layout)
napi_value llama_kv_save(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!kiln_get_args(env, info, 4, argv)) return nullptr;
  Handle *h;
  int32_t seq, pos0, n;
  if (!get_handle(env, argv[0], &h) || !get_seq(env, argv[1], h, &seq) || !get_pos(env, argv[2], "pos0", &pos0) ||
      !get_pos(env, argv[3], "n", &n))
    return nullptr;
  if ((int64_t)pos0 + n > kiln_llama_seq_len(h->ctx, seq)) return kiln_throw(env, "the positions to save are not cached");
  void *data = nullptr;
  napi_value ab;
  if (napi_create_arraybuffer(env, kiln_llama_kv_bytes(h->ctx, n), &data, &ab) != napi_ok) return kiln_throw(env, "out of memory");
  const char *err = nullptr;
  if (kiln_llama_kv_save(h->ctx, seq, pos0, n, data, &err) != 0) return kiln_throw(env, "%s", err ? err : "save failed");
  return ab;
}

// llamaKvLoad(handle, seq, pos0, n, bytes): the reverse (bytes: an ArrayBuffer or a typed array over one)
napi_value llama_kv_load(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!kiln_get_args(env, info, 5, argv)) return nullptr;
  Handle *h;
  int32_t seq, pos0, n;
  if (!get_handle(env, argv[0], &h) || !get_seq(env, argv[1], h, &seq) || !get_pos(env, argv[2], "pos0", &pos0) ||
      !get_pos(env, argv[3], "n", &n))
    return nullptr;
  void *data = nullptr;
  size_t len = 0;
  if (!kiln_get_typed(env, argv[4], napi_uint8_array, "bytes", &data, &len)) return nullptr;
  if (len != kiln_llama_kv_bytes(h->ctx, n)) return kiln_throw(env, "bytes holds %zu bytes, %zu expected", len, kiln_llama_kv_bytes(h->ctx, n));
  const char *err = nullptr;
  if (kiln_llama_kv_load(h->ctx, seq, pos0, n, data, &err) != 0) return kiln_throw(env, "%s", err ? err : "load failed");
  return nullptr;
}

// llamaShift(handle, keep, discard, seq) -> the new number of cached positions
napi_value llama_shift(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!kiln_get_args(env, info, 4, argv)) return nullptr;
  Handle *h;
  int64_t keep, discard;
  int32_t seq;
  if (!get_handle(env, argv[0], &h) || !kiln_get_int64(env, argv[1], "keep", &keep) || !kiln_get_int64(env, argv[2], "discard", &discard) ||
      !get_seq(env, argv[3], h, &seq))
    return nullptr;
  if (keep < 0 || keep > INT32_MAX || discard < 0 || discard > INT32_MAX) return kiln_throw_range(env, "keep and discard must be 32-bit counts");
  const char *error = nullptr;
  const int32_t n = kiln_llama_shift(h->ctx, seq, (int32_t)keep, (int32_t)discard, &error);
  if (n < 0) return kiln_throw(env, error ? error : "shift failed");
  napi_value r;
  napi_create_int32(env, n, &r);
  return r;
}

napi_value llama_hidden(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!kiln_get_args(env, info, 2, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  void *op;
  size_t on;
  if (!kiln_get_typed(env, argv[1], napi_float32_array, "out", &op, &on)) return nullptr;
  int32_t n = 0;
  const float *hid = kiln_llama_hidden(h->ctx, &n);
  const size_t need = (size_t)n * h->n_embd;
  if (on < need) return kiln_throw(env, "out holds %zu floats, %zu needed", on, need);
  for (size_t i = 0; i < need; i++) static_cast<float *>(op)[i] = hid[i];
  napi_value r;
  napi_create_int32(env, n, &r);
  return r;
}

napi_value llama_observe(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!kiln_get_args(env, info, 2, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  bool on = false;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) return kiln_throw_type(env, "on must be a boolean");
  kiln_llama_observe(h->ctx, on ? observe_matmul : nullptr, on ? h : nullptr);
  return nullptr;
}

napi_value llama_imatrix(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  napi_value arr;
  KILN_NAPI_CALL(env, napi_create_array_with_length(env, h->imatrix.size(), &arr));
  uint32_t i = 0;
  for (const auto &[data, acc] : h->imatrix) {
    const size_t len = acc.sum2.size() + 2;
    void *p;
    napi_value ab, ta;
    KILN_NAPI_CALL(env, napi_create_arraybuffer(env, len * sizeof(double), &p, &ab));
    double *d = static_cast<double *>(p);
    d[0] = (double)(static_cast<const uint8_t *>(data) - h->base);
    d[1] = acc.count;
    for (size_t k = 0; k < acc.sum2.size(); k++) d[k + 2] = acc.sum2[k];
    KILN_NAPI_CALL(env, napi_create_typedarray(env, napi_float64_array, len, ab, 0, &ta));
    KILN_NAPI_CALL(env, napi_set_element(env, arr, i++, ta));
  }
  return arr;
}

// llamaGpu(handle) -> { layers, deviceBytes, output }: the layers the Vulkan device runs, the memory they hold
// there, and whether the output projection runs there too
napi_value llama_gpu(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  uint64_t bytes = 0;
  int32_t output = 0;
  const int32_t layers = kiln_llama_gpu_layers(h->ctx, &bytes, &output);
  napi_value o, a, b, c;
  napi_create_object(env, &o);
  napi_create_int32(env, layers, &a);
  napi_create_double(env, (double)bytes, &b);
  napi_set_named_property(env, o, "layers", a);
  napi_set_named_property(env, o, "deviceBytes", b);
  napi_get_boolean(env, output != 0, &c);
  napi_set_named_property(env, o, "output", c);
  return o;
}

// llamaRouteTrace(handle, on): record the expert choices of later evals (kiln_llama_route_trace)
napi_value llama_route_trace(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!kiln_get_args(env, info, 2, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  bool on = false;
  if (napi_get_value_bool(env, argv[1], &on) != napi_ok) return kiln_throw_type(env, "on must be a boolean");
  kiln_llama_route_trace(h->ctx, on ? 1 : 0);
  return nullptr;
}

// llamaRoutes(handle) -> { experts: Int32Array, margins: Float32Array } of the last traced eval
napi_value llama_routes(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  Handle *h;
  if (!get_handle(env, argv[0], &h)) return nullptr;
  const int32_t *sel;
  const float *margin;
  const size_t n = (size_t)kiln_llama_route_get(h->ctx, &sel, &margin);
  napi_value o, a, b, ab1, ab2;
  void *p1, *p2;
  // the slots per (token, layer): the experts used, or 1 for a dense model
  const size_t k = h->n_expert_used > 0 ? (size_t)h->n_expert_used : 1;
  KILN_NAPI_CALL(env, napi_create_arraybuffer(env, n * k * sizeof(int32_t), &p1, &ab1));
  KILN_NAPI_CALL(env, napi_create_arraybuffer(env, n * sizeof(float), &p2, &ab2));
  if (n) {
    memcpy(p1, sel, n * k * sizeof(int32_t));
    memcpy(p2, margin, n * sizeof(float));
  }
  KILN_NAPI_CALL(env, napi_create_typedarray(env, napi_int32_array, n * k, ab1, 0, &a));
  KILN_NAPI_CALL(env, napi_create_typedarray(env, napi_float32_array, n, ab2, 0, &b));
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "experts", a);
  napi_set_named_property(env, o, "margins", b);
  return o;
}

napi_value llama_free(napi_env env, napi_callback_info info) { return Handles::free_js(env, info, "model"); }

} // namespace

void kiln_register_llama(napi_env env, napi_value exports) {
  kiln_export(env, exports, "llamaNew", llama_new);
  kiln_export(env, exports, "llamaEval", llama_eval);
  kiln_export(env, exports, "llamaTruncate", llama_truncate);
  kiln_export(env, exports, "llamaDecode", llama_decode);
  kiln_export(env, exports, "llamaSeqLen", llama_seq_len);
  kiln_export(env, exports, "llamaKvSave", llama_kv_save);
  kiln_export(env, exports, "llamaKvLoad", llama_kv_load);
  kiln_export(env, exports, "llamaHidden", llama_hidden);
  kiln_export(env, exports, "llamaShift", llama_shift);
  kiln_export(env, exports, "llamaFree", llama_free);
  kiln_export(env, exports, "llamaObserve", llama_observe);
  kiln_export(env, exports, "llamaImatrix", llama_imatrix);
  kiln_export(env, exports, "llamaGpu", llama_gpu);
  kiln_export(env, exports, "llamaRouteTrace", llama_route_trace);
  kiln_export(env, exports, "llamaRoutes", llama_routes);
}
