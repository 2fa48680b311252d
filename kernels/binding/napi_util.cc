#include "napi_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

namespace {
napi_status (*const kThrowers[])(napi_env, const char *, const char *) = {napi_throw_error, napi_throw_type_error,
                                                                           napi_throw_range_error};

napi_value vthrow(napi_env env, int kind, const char *fmt, va_list ap) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return nullptr; // keep the first error
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  kThrowers[kind](env, "E_NATIVE", msg);
  return nullptr;
}
} // namespace

napi_value kiln_throw(napi_env env, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vthrow(env, 0, fmt, ap);
  va_end(ap);
  return nullptr;
}

napi_value kiln_throw_type(napi_env env, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vthrow(env, 1, fmt, ap);
  va_end(ap);
  return nullptr;
}

napi_value kiln_throw_range(napi_env env, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vthrow(env, 2, fmt, ap);
  va_end(ap);
  return nullptr;
}


bool kiln_get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) {
    kiln_throw(env, "cannot read arguments");
    return false;
  }
  if (argc < want) {
    kiln_throw(env, "expected %zu arguments, got %zu", want, argc);
    return false;
  }
  return true;
}

bool kiln_get_int64(napi_env env, napi_value v, const char *what, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    kiln_throw(env, "%s must be a number", what);
    return false;
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
    kiln_throw(env, "%s must be a safe integer", what);
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool kiln_get_string(napi_env env, napi_value v, const char *what, char *buf, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) {
    kiln_throw(env, "%s must be a string", what);
    return false;
  }
  if (len + 1 > cap) {
    kiln_throw(env, "%s is too long (%zu bytes)", what, len);
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, cap, &len);
  if (strlen(buf) != len) {
    kiln_throw(env, "%s contains a NUL byte", what);
    return false;
  }
  return true;
}

bool kiln_get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *what,
                    void **data, size_t *length) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  napi_typedarray_type type;
  if (!is_typed || napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr) != napi_ok ||
      type != want) {
    const char *name = want == napi_float32_array   ? "Float32Array"
                       : want == napi_float64_array ? "Float64Array"
                       : want == napi_int32_array   ? "Int32Array"
                                                    : "Uint8Array";
    kiln_throw_type(env, "%s must be a %s", what, name);
    return false;
  }
  return true;
}

void kiln_export(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}
