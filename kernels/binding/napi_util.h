// Small helpers for the Node-API glue. Only files under binding/ include Node headers.
#pragma once
#include <node_api.h>

#include <stddef.h>
#include <stdint.h>

// Throws a JS Error whose code is "E_NATIVE"; kernels/index.ts turns it into a KilnError.
napi_value kiln_throw(napi_env env, const char *fmt, ...);
// The same as a TypeError (a value of the wrong kind) or a RangeError (the right kind, out of range).
napi_value kiln_throw_type(napi_env env, const char *fmt, ...);
napi_value kiln_throw_range(napi_env env, const char *fmt, ...);

#define KILN_NAPI_CALL(env, call)                                                   \
  do {                                                                              \
    if ((call) != napi_ok) return kiln_throw((env), "Node-API call failed: %s", #call); \
  } while (0)

// Argument readers; each returns false after throwing.
bool kiln_get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
bool kiln_get_int64(napi_env env, napi_value v, const char *what, int64_t *out);
bool kiln_get_string(napi_env env, napi_value v, const char *what, char *buf, size_t cap);
// A typed array of the given type: data pointer and element count (no copy).
bool kiln_get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *what,
                    void **data, size_t *length);

// Registration hooks implemented by each glue file.
void kiln_register_cpu(napi_env env, napi_value exports);
void kiln_register_mmap(napi_env env, napi_value exports);
void kiln_register_quant(napi_env env, napi_value exports);
void kiln_register_llama(napi_env env, napi_value exports);
void kiln_register_ops(napi_env env, napi_value exports);
void kiln_register_flock(napi_env env, napi_value exports);
void kiln_register_bert(napi_env env, napi_value exports);
void kiln_register_vulkan(napi_env env, napi_value exports);

void kiln_export(napi_env env, napi_value exports, const char *name, napi_callback cb);
