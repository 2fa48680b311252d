// Quant ops on typed-array views (no copies of inputs). index.ts validates
// every argument first; the checks here are the second line, so a bad call
// from elsewhere throws instead of reading or writing out of bounds.
#include "napi_util.h"

extern "C" {
#include "ops.h"
#include "pool.h"
#include "quants.h"
#include "variant.h"
}

namespace {

// Largest element count accepted: keeps every byte-size product far from overflow.
const int64_t MAX_ELEMS = int64_t(1) << 40;

bool get_traits(napi_env env, napi_value v, int *type, const kiln_type_traits **tr) {
  int64_t t;
  if (!kiln_get_int64(env, v, "type", &t)) return false;
  *tr = (t >= 0 && t < KILN_TYPE_COUNT) ? kiln_type_traits_of(static_cast<int>(t)) : nullptr;
  if (*tr == nullptr) {
    kiln_throw(env, "unknown tensor type %lld", static_cast<long long>(t));
    return false;
  }
  *type = static_cast<int>(t);
  return true;
}

bool get_count(napi_env env, napi_value v, const char *what, int64_t *out) {
  if (!kiln_get_int64(env, v, what, out)) return false;
  if (*out < 0 || *out > MAX_ELEMS) {
    kiln_throw(env, "%s out of range: %lld", what, static_cast<long long>(*out));
    return false;
  }
  return true;
}

bool check_multiple(napi_env env, const kiln_type_traits *tr, int64_t n, const char *what) {
  if (n % tr->block_size != 0) {
    kiln_throw(env, "%s (%lld) is not a multiple of the %s block size %lld", what, static_cast<long long>(n), tr->name,
               static_cast<long long>(tr->block_size));
    return false;
  }
  return true;
}

bool get_variant(napi_env env, napi_value v, kiln_variant *out) {
  int64_t x;
  if (!kiln_get_int64(env, v, "variant", &x)) return false;
  if (x < 0 || x >= KILN_VARIANT_COUNT || !kiln_variant_supported(static_cast<kiln_variant>(x))) {
    kiln_throw(env, "kernel variant %lld is not supported on this CPU", static_cast<long long>(x));
    return false;
  }
  *out = static_cast<kiln_variant>(x);
  return true;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// typeTable() -> [{ id, name, blockSize, typeSize, vecDotType, hasVecDot, hasQuantize }]
napi_value type_table(napi_env env, napi_callback_info) {
  napi_value arr;
  KILN_NAPI_CALL(env, napi_create_array(env, &arr));
  uint32_t k = 0;
  for (int t = 0; t < KILN_TYPE_COUNT; t++) {
    const kiln_type_traits *tr = kiln_type_traits_of(t);
    if (tr == nullptr) continue;
    napi_value o, id, name, bs, ts, vdt, has, hasq;
    napi_create_object(env, &o);
    napi_create_int32(env, t, &id);
    napi_create_string_utf8(env, tr->name, NAPI_AUTO_LENGTH, &name);
    napi_create_int64(env, tr->block_size, &bs);
    napi_create_int64(env, static_cast<int64_t>(tr->type_size), &ts);
    napi_create_int32(env, tr->vec_dot_type, &vdt);
    napi_get_boolean(env, tr->vec_dot != nullptr, &has);
    napi_get_boolean(env, tr->from_float_ref != nullptr, &hasq);
    napi_set_named_property(env, o, "id", id);
    napi_set_named_property(env, o, "name", name);
    napi_set_named_property(env, o, "blockSize", bs);
    napi_set_named_property(env, o, "typeSize", ts);
    napi_set_named_property(env, o, "vecDotType", vdt);
    napi_set_named_property(env, o, "hasVecDot", has);
    napi_set_named_property(env, o, "hasQuantize", hasq);
    napi_set_element(env, arr, k++, o);
  }
  return arr;
}

// dequantize(type, src: Uint8Array, n, dst: Float32Array)
napi_value dequantize(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!kiln_get_args(env, info, 4, argv)) return nullptr;
  int type;
  const kiln_type_traits *tr;
  int64_t n;
  void *src, *dst;
  size_t src_len, dst_len;
  if (!get_traits(env, argv[0], &type, &tr) || !get_count(env, argv[2], "n", &n) || !check_multiple(env, tr, n, "n") ||
      !kiln_get_typed(env, argv[1], napi_uint8_array, "src", &src, &src_len) ||
      !kiln_get_typed(env, argv[3], napi_float32_array, "dst", &dst, &dst_len))
    return nullptr;
  if (src_len < kiln_row_size(type, n)) return kiln_throw(env, "src holds %zu bytes, %zu needed", src_len, kiln_row_size(type, n));
  if (dst_len < static_cast<size_t>(n)) return kiln_throw(env, "dst holds %zu values, %lld needed", dst_len, static_cast<long long>(n));
  tr->to_float(src, static_cast<float *>(dst), n);
  return undefined(env);
}

// quantize(type, src: Float32Array, nrows, ncols, dst: Uint8Array, imp: Float32Array | null, plain?: boolean)
// with the reference quantizer; imp (ncols values) weights each column's error;
// plain: the type's plain quantizer instead (Q3_K/Q4_K; imp must be null).
napi_value quantize(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = 7;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return kiln_throw(env, "cannot read arguments");
  if (argc < 5) return kiln_throw(env, "expected 5 to 7 arguments, got %zu", argc);
  if (argc <= 5) napi_get_undefined(env, &argv[5]);
  bool plain = false;
  if (argc == 7) {
    napi_valuetype pt;
    if (napi_typeof(env, argv[6], &pt) != napi_ok) return kiln_throw(env, "cannot read plain");
    if (pt == napi_boolean && napi_get_value_bool(env, argv[6], &plain) != napi_ok) return kiln_throw(env, "cannot read plain");
  }
  int type;
  const kiln_type_traits *tr;
  int64_t nrows, ncols;
  void *src, *dst;
  size_t src_len, dst_len;
  if (!get_traits(env, argv[0], &type, &tr) || !get_count(env, argv[2], "nrows", &nrows) ||
      !get_count(env, argv[3], "ncols", &ncols) || !check_multiple(env, tr, ncols, "ncols") ||
      !kiln_get_typed(env, argv[1], napi_float32_array, "src", &src, &src_len) ||
      !kiln_get_typed(env, argv[4], napi_uint8_array, "dst", &dst, &dst_len))
    return nullptr;
  if (ncols > 0 && nrows > MAX_ELEMS / ncols) return kiln_throw(env, "nrows * ncols is too large");
  const size_t row_bytes = kiln_row_size(type, ncols);
  if (src_len < static_cast<size_t>(nrows * ncols)) return kiln_throw(env, "src holds %zu values, %lld needed", src_len, static_cast<long long>(nrows * ncols));
  if (dst_len < row_bytes * static_cast<size_t>(nrows)) return kiln_throw(env, "dst holds %zu bytes, %zu needed", dst_len, row_bytes * static_cast<size_t>(nrows));
  if (tr->from_float_ref == nullptr) return kiln_throw(env, "kiln has no quantizer for %s (it reads the type only)", tr->name);
  const float *imp = nullptr;
  napi_valuetype imp_type;
  if (napi_typeof(env, argv[5], &imp_type) != napi_ok) return kiln_throw(env, "cannot read imp");
  if (imp_type != napi_null && imp_type != napi_undefined) {
    void *data;
    size_t len;
    if (!kiln_get_typed(env, argv[5], napi_float32_array, "imp", &data, &len)) return nullptr;
    if (len < static_cast<size_t>(ncols)) return kiln_throw(env, "imp holds %zu values, %lld needed", len, static_cast<long long>(ncols));
    imp = static_cast<const float *>(data);
  }
  if (plain) {
    if (imp != nullptr) return kiln_throw(env, "a plain quantizer takes no importance");
    if (kiln_plain_quantizer(type) == nullptr) return kiln_throw(env, "kiln has no plain quantizer for %s", tr->name);
    if (kiln_quantize_rows_plain(type, static_cast<const float *>(src), nrows, ncols, dst) != 0) return kiln_throw(env, "quantize failed");
    return undefined(env);
  }
  if (kiln_quantize_rows(type, static_cast<const float *>(src), nrows, ncols, dst, imp) != 0) return kiln_throw(env, "quantize failed");
  return undefined(env);
}

// quantizeActivations(type, src: Float32Array, n, dst: Uint8Array, variant): the
// variant's activation quantizer (what matvec uses), to check it bit for bit.
napi_value quantize_act(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!kiln_get_args(env, info, 5, argv)) return nullptr;
  int type;
  const kiln_type_traits *tr;
  int64_t n;
  kiln_variant v;
  void *src, *dst;
  size_t src_len, dst_len;
  if (!get_traits(env, argv[0], &type, &tr) || !get_count(env, argv[2], "n", &n) || !check_multiple(env, tr, n, "n") ||
      !get_variant(env, argv[4], &v) || !kiln_get_typed(env, argv[1], napi_float32_array, "src", &src, &src_len) ||
      !kiln_get_typed(env, argv[3], napi_uint8_array, "dst", &dst, &dst_len))
    return nullptr;
  if (src_len < static_cast<size_t>(n)) return kiln_throw(env, "src holds %zu values, %lld needed", src_len, static_cast<long long>(n));
  if (dst_len < kiln_row_size(type, n)) return kiln_throw(env, "dst holds %zu bytes, %zu needed", dst_len, kiln_row_size(type, n));
  kiln_kernels_for(v)->from_float[type](static_cast<const float *>(src), dst, n);
  return undefined(env);
}

// vecDot(type, row: Uint8Array, act: Float32Array, n, variant) -> number
napi_value vec_dot(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!kiln_get_args(env, info, 5, argv)) return nullptr;
  int type;
  const kiln_type_traits *tr;
  int64_t n;
  kiln_variant v;
  void *row, *act;
  size_t row_len, act_len;
  if (!get_traits(env, argv[0], &type, &tr) || !get_count(env, argv[3], "n", &n) || !check_multiple(env, tr, n, "n") ||
      !get_variant(env, argv[4], &v) || !kiln_get_typed(env, argv[1], napi_uint8_array, "row", &row, &row_len) ||
      !kiln_get_typed(env, argv[2], napi_float32_array, "act", &act, &act_len))
    return nullptr;
  if (tr->vec_dot == nullptr) return kiln_throw(env, "%s has no dot product (activation-only type)", tr->name);
  if (tr->vec_dot_type != KILN_TYPE_F32 && n % kiln_type_traits_of(tr->vec_dot_type)->block_size != 0)
    return kiln_throw(env, "n is not a multiple of the activation block size");
  if (row_len < kiln_row_size(type, n)) return kiln_throw(env, "row holds %zu bytes, %zu needed", row_len, kiln_row_size(type, n));
  if (act_len < static_cast<size_t>(n)) return kiln_throw(env, "act holds %zu values, %lld needed", act_len, static_cast<long long>(n));
  float s = 0;
  if (kiln_vec_dot_f32(v, type, row, static_cast<const float *>(act), n, &s) != 0) return kiln_throw(env, "vec_dot failed");
  napi_value out;
  napi_create_double(env, s, &out);
  return out;
}

// matvec(type, weights: Uint8Array, rows, cols, x: Float32Array, out: Float32Array, variant)
napi_value matvec(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!kiln_get_args(env, info, 7, argv)) return nullptr;
  int type;
  const kiln_type_traits *tr;
  int64_t rows, cols;
  kiln_variant v;
  void *w, *x, *out;
  size_t w_len, x_len, out_len;
  if (!get_traits(env, argv[0], &type, &tr) || !get_count(env, argv[2], "rows", &rows) ||
      !get_count(env, argv[3], "cols", &cols) || !check_multiple(env, tr, cols, "cols") || !get_variant(env, argv[6], &v) ||
      !kiln_get_typed(env, argv[1], napi_uint8_array, "weights", &w, &w_len) ||
      !kiln_get_typed(env, argv[4], napi_float32_array, "x", &x, &x_len) ||
      !kiln_get_typed(env, argv[5], napi_float32_array, "out", &out, &out_len))
    return nullptr;
  if (tr->vec_dot == nullptr) return kiln_throw(env, "%s has no dot product (activation-only type)", tr->name);
  if (cols > 0 && rows > MAX_ELEMS / cols) return kiln_throw(env, "rows * cols is too large");
  const size_t need = kiln_row_size(type, cols) * static_cast<size_t>(rows);
  if (w_len < need) return kiln_throw(env, "weights hold %zu bytes, %zu needed", w_len, need);
  if (x_len < static_cast<size_t>(cols)) return kiln_throw(env, "x holds %zu values, %lld needed", x_len, static_cast<long long>(cols));
  if (out_len < static_cast<size_t>(rows)) return kiln_throw(env, "out holds %zu values, %lld needed", out_len, static_cast<long long>(rows));
  if (kiln_matvec(v, type, w, rows, cols, static_cast<const float *>(x), static_cast<float *>(out)) != 0)
    return kiln_throw(env, "matvec failed");
  return undefined(env);
}

// memRead(buf: Uint8Array) -> word sum: a streaming read of buf on the pool (bench/).
napi_value mem_read(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  void *p;
  size_t len;
  if (!kiln_get_typed(env, argv[0], napi_uint8_array, "buf", &p, &len)) return nullptr;
  napi_value out;
  napi_create_double(env, static_cast<double>(kiln_mem_read(p, len)), &out);
  return out;
}

// matmul(type, weights: Uint8Array, rows, cols, x: Float32Array, n, out: Float32Array, variant):
// out[t * rows + r] = dot(row r, x[t]) through the tiled kernels.
napi_value matmul(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (!kiln_get_args(env, info, 8, argv)) return nullptr;
  int type;
  const kiln_type_traits *tr;
  int64_t rows, cols, n;
  kiln_variant v;
  void *w, *x, *out;
  size_t w_len, x_len, out_len;
  if (!get_traits(env, argv[0], &type, &tr) || !get_count(env, argv[2], "rows", &rows) ||
      !get_count(env, argv[3], "cols", &cols) || !get_count(env, argv[5], "n", &n) || !check_multiple(env, tr, cols, "cols") ||
      !get_variant(env, argv[7], &v) || !kiln_get_typed(env, argv[1], napi_uint8_array, "weights", &w, &w_len) ||
      !kiln_get_typed(env, argv[4], napi_float32_array, "x", &x, &x_len) ||
      !kiln_get_typed(env, argv[6], napi_float32_array, "out", &out, &out_len))
    return nullptr;
  if (tr->vec_dot == nullptr) return kiln_throw(env, "%s has no dot product (activation-only type)", tr->name);
  if (n > INT32_MAX) return kiln_throw(env, "n is too large");
  if (cols > 0 && (rows > MAX_ELEMS / cols || n > MAX_ELEMS / cols)) return kiln_throw(env, "rows * cols is too large");
  if (rows > 0 && n > MAX_ELEMS / rows) return kiln_throw(env, "rows * n is too large");
  const size_t need = kiln_row_size(type, cols) * static_cast<size_t>(rows);
  if (w_len < need) return kiln_throw(env, "weights hold %zu bytes, %zu needed", w_len, need);
  if (x_len < static_cast<size_t>(n * cols)) return kiln_throw(env, "x holds %zu values, %lld needed", x_len, static_cast<long long>(n * cols));
  if (out_len < static_cast<size_t>(n * rows)) return kiln_throw(env, "out holds %zu values, %lld needed", out_len, static_cast<long long>(n * rows));
  if (kiln_matmul(v, type, w, rows, cols, static_cast<const float *>(x), static_cast<int32_t>(n), static_cast<float *>(out)) != 0)
    return kiln_throw(env, "matmul failed");
  return undefined(env);
}

// setThreads(n): threads taking part in matvec and quantize, the caller included.
napi_value set_threads(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  int64_t n;
  if (!kiln_get_int64(env, argv[0], "threads", &n)) return nullptr;
  if (n < 1 || n > 1024) return kiln_throw(env, "threads must be in [1, 1024]; got %lld", static_cast<long long>(n));
  kiln_pool_set_threads(static_cast<int>(n));
  return undefined(env);
}

napi_value get_threads(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, kiln_pool_threads(), &out);
  return out;
}

} // namespace

void kiln_register_quant(napi_env env, napi_value exports) {
  kiln_export(env, exports, "typeTable", type_table);
  kiln_export(env, exports, "dequantize", dequantize);
  kiln_export(env, exports, "quantize", quantize);
  kiln_export(env, exports, "quantizeActivations", quantize_act);
  kiln_export(env, exports, "vecDot", vec_dot);
  kiln_export(env, exports, "matvec", matvec);
  kiln_export(env, exports, "matmul", matmul);
  kiln_export(env, exports, "memRead", mem_read);
  kiln_export(env, exports, "setThreads", set_threads);
  kiln_export(env, exports, "threads", get_threads);
}
