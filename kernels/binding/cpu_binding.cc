// cpuFeatures(), variants(): what the probe found and which kernel variants run here.
#include "napi_util.h"

extern "C" {
#include "cpu.h"
#include "variant.h"
}

namespace {

void set_bool(napi_env env, napi_value obj, const char *key, bool v) {
  napi_value b;
  napi_get_boolean(env, v, &b);
  napi_set_named_property(env, obj, key, b);
}

napi_value cpu_features(napi_env env, napi_callback_info) {
  const kiln_cpu_features *f = kiln_cpu_probe();
  napi_value obj, arch;
  KILN_NAPI_CALL(env, napi_create_object(env, &obj));
  KILN_NAPI_CALL(env, napi_create_string_utf8(env, f->arch, NAPI_AUTO_LENGTH, &arch));
  napi_set_named_property(env, obj, "arch", arch);
  set_bool(env, obj, "sse42", f->sse42);
  set_bool(env, obj, "avx", f->avx);
  set_bool(env, obj, "avx2", f->avx2);
  set_bool(env, obj, "fma", f->fma);
  set_bool(env, obj, "f16c", f->f16c);
  set_bool(env, obj, "avx512f", f->avx512f);
  set_bool(env, obj, "avx512bw", f->avx512bw);
  set_bool(env, obj, "avx512vl", f->avx512vl);
  set_bool(env, obj, "avx512vnni", f->avx512vnni);
  set_bool(env, obj, "avxvnni", f->avxvnni);
  set_bool(env, obj, "amx", f->amx);
  set_bool(env, obj, "neon", f->neon);
  set_bool(env, obj, "dotprod", f->dotprod);
  set_bool(env, obj, "amd", f->amd);
  return obj;
}

// Names of the variants this build + CPU can run, best last.
napi_value supported_variants(napi_env env, napi_callback_info) {
  napi_value arr;
  KILN_NAPI_CALL(env, napi_create_array(env, &arr));
  uint32_t n = 0;
  for (int v = 0; v < KILN_VARIANT_COUNT; v++) {
    if (!kiln_variant_supported(static_cast<kiln_variant>(v))) continue;
    napi_value s;
    napi_create_string_utf8(env, kiln_variant_name(static_cast<kiln_variant>(v)), NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, n++, s);
  }
  return arr;
}

} // namespace

void kiln_register_cpu(napi_env env, napi_value exports) {
  kiln_export(env, exports, "cpuFeatures", cpu_features);
  kiln_export(env, exports, "supportedVariants", supported_variants);
}
