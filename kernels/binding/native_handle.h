// The life of a native context behind a JS external: H has `ctx` (freed by
// Free) and `buffer` (a reference keeping the mapped file alive). Shared by
// the decoder and encoder glue: finalize on GC, checked lookup, explicit free.
#pragma once
#include "napi_util.h"

template <typename H, typename Ctx, void (*Free)(Ctx *)>
struct NativeHandle {
  // Frees the context and drops the buffer reference; the handle stays (a later call says it was freed).
  static void release(napi_env env, H *h) {
    if (h->ctx) {
      Free(h->ctx);
      h->ctx = nullptr;
    }
    if (h->buffer) {
      napi_delete_reference(env, h->buffer);
      h->buffer = nullptr;
    }
  }

  static void finalize(napi_env env, void *data, void *) {
    H *h = static_cast<H *>(data);
    release(env, h);
    delete h;
  }

  // The handle of a JS value, or a throw naming `what` ("model", "encoder") and false.
  static bool get(napi_env env, napi_value v, const char *what, H **out) {
    void *p = nullptr;
    if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) {
      kiln_throw(env, "not a native %s handle", what);
      return false;
    }
    *out = static_cast<H *>(p);
    if ((*out)->ctx == nullptr) {
      kiln_throw(env, "the %s handle was freed", what);
      return false;
    }
    return true;
  }

  // JS free(handle): idempotent.
  static napi_value free_js(napi_env env, napi_callback_info info, const char *what) {
    napi_value argv[1];
    if (!kiln_get_args(env, info, 1, argv)) return nullptr;
    void *p = nullptr;
    if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == nullptr) return kiln_throw(env, "not a native %s handle", what);
    release(env, static_cast<H *>(p));
    return nullptr;
  }
};
