// The Vulkan backend's surface to TypeScript (kernels/vulkan.ts):
//   vulkanInfo() -> { built, available, reason, devices: [...], selected }
//   vulkanMatmul(type, w, rows, cols, x, n, bias|null, out)
//   vulkanRmsnorm(x, w, dim, rows, eps, out); vulkanRope(v, cs, n, heads, headDim, nRot, neox)
//   vulkanSiluMul(g, u); vulkanAttn(q, k, v, kc0, vc0, n, nHead, nHeadKv, headDim, pos0, scale, out)
// The op functions run one op on the device the backend would pick (a CPU
// device such as lavapipe included) for the tests; they throw when there is no
// device. Built without the backend, vulkanInfo says so and the ops throw.
#include "napi_util.h"

#include <string>

#if KILN_HAVE_VULKAN
#include "vulkan/ops.h"
#include "vulkan/vk.h"
#endif

extern "C" {
#include "quants.h"
}

namespace {

void set_str(napi_env env, napi_value o, const char *k, const std::string &s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  napi_set_named_property(env, o, k, v);
}
void set_num(napi_env env, napi_value o, const char *k, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  napi_set_named_property(env, o, k, v);
}
void set_bool(napi_env env, napi_value o, const char *k, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  napi_set_named_property(env, o, k, v);
}

napi_value vulkan_info(napi_env env, napi_callback_info) {
  napi_value o, list;
  napi_create_object(env, &o);
  napi_create_array(env, &list);
#if KILN_HAVE_VULKAN
  set_bool(env, o, "built", true);
  std::string why;
  const bool ok = kvk::init(&why);
  set_bool(env, o, "available", ok);
  uint32_t i = 0;
  if (ok)
    for (const kvk::DeviceInfo &d : kvk::devices()) {
      napi_value e;
      napi_create_object(env, &e);
      set_num(env, e, "index", i);
      set_str(env, e, "name", d.name);
      set_str(env, e, "type", kvk::type_name(d.type));
      set_num(env, e, "vendorId", d.vendor_id);
      set_num(env, e, "deviceId", d.device_id);
      set_num(env, e, "memoryBytes", (double)d.device_local_bytes);
      set_bool(env, e, "storage16", d.storage16);
      set_bool(env, e, "storage8", d.storage8);
      set_bool(env, e, "float16", d.float16);
      set_bool(env, e, "int8", d.int8);
      set_bool(env, e, "integerDot", d.int_dot);
      set_bool(env, e, "cooperativeMatrix", d.coop_matrix);
      set_bool(env, e, "memoryBudget", d.memory_budget);
      set_num(env, e, "subgroupSize", d.subgroup_size);
      set_bool(env, e, "subgroupArithmetic", d.subgroup_arith);
      set_num(env, e, "sharedMemoryBytes", d.max_shared);
      set_num(env, e, "maxStorageBufferRange", (double)d.max_storage_range);
      napi_set_element(env, list, i++, e);
    }
  std::string cwhy;
  const int sel = kvk::choose(false, &cwhy);
  set_num(env, o, "selected", sel);
  set_str(env, o, "reason", ok ? (sel < 0 ? cwhy : std::string()) : why);
#else
  set_bool(env, o, "built", false);
  set_bool(env, o, "available", false);
  set_num(env, o, "selected", -1);
  set_str(env, o, "reason", "kiln was built without the Vulkan backend (libvulkan-dev or glslc was missing, or KILN_VULKAN=0)");
#endif
  napi_set_named_property(env, o, "devices", list);
  return o;
}

#if KILN_HAVE_VULKAN
bool f32(napi_env env, napi_value v, const char *what, float **p, size_t *n) {
  void *d;
  if (!kiln_get_typed(env, v, napi_float32_array, what, &d, n)) return false;
  *p = static_cast<float *>(d);
  return true;
}
bool u32(napi_env env, napi_value v, const char *what, uint32_t *out) {
  int64_t x;
  if (!kiln_get_int64(env, v, what, &x)) return false;
  if (x < 0 || x > (1 << 30)) {
    kiln_throw_range(env, "%s out of range", what);
    return false;
  }
  *out = (uint32_t)x;
  return true;
}
napi_value fail(napi_env env, const std::string &why) { return kiln_throw(env, "vulkan: %s", why.c_str()); }

napi_value vulkan_matmul(napi_env env, napi_callback_info info) {
  napi_value a[8];
  if (!kiln_get_args(env, info, 8, a)) return nullptr;
  uint32_t type, rows, cols, n;
  void *w;
  size_t wn, xn, on, bn = 0;
  float *x, *out, *bias = nullptr;
  if (!u32(env, a[0], "type", &type) || !kiln_get_typed(env, a[1], napi_uint8_array, "w", &w, &wn) ||
      !u32(env, a[2], "rows", &rows) || !u32(env, a[3], "cols", &cols) || !f32(env, a[4], "x", &x, &xn) ||
      !u32(env, a[5], "n", &n) || !f32(env, a[7], "out", &out, &on))
    return nullptr;
  napi_valuetype bt;
  napi_typeof(env, a[6], &bt);
  if (bt != napi_null && bt != napi_undefined && !f32(env, a[6], "bias", &bias, &bn)) return nullptr;
  const kiln_type_traits *tr = kiln_type_traits_of((int)type);
  if (!tr || !kvk::type_supported((int)type) || cols % tr->block_size) return kiln_throw(env, "vulkan: unsupported type or row length");
  if (wn < kiln_row_size((int)type, cols) * rows || xn < (size_t)n * cols || on < (size_t)n * rows || (bias && bn < rows) || n == 0)
    return kiln_throw(env, "vulkan: buffers are too small");
  std::string why;
  if (!kvk::test_matmul((int)type, w, kiln_row_size((int)type, cols) * rows, rows, cols, x, n, bias, out, &why)) return fail(env, why);
  return nullptr;
}

napi_value vulkan_rmsnorm(napi_env env, napi_callback_info info) {
  napi_value a[6];
  if (!kiln_get_args(env, info, 6, a)) return nullptr;
  float *x, *w, *out;
  size_t xn, wn, on;
  uint32_t dim, rows;
  double eps;
  if (!f32(env, a[0], "x", &x, &xn) || !f32(env, a[1], "w", &w, &wn) || !u32(env, a[2], "dim", &dim) ||
      !u32(env, a[3], "rows", &rows) || napi_get_value_double(env, a[4], &eps) != napi_ok || !f32(env, a[5], "out", &out, &on))
    return nullptr;
  if (dim == 0 || rows == 0 || xn < (size_t)dim * rows || wn < dim || on < (size_t)dim * rows) return kiln_throw(env, "vulkan: bad sizes");
  std::string why;
  if (!kvk::test_rmsnorm(x, w, dim, rows, (float)eps, out, &why)) return fail(env, why);
  return nullptr;
}

napi_value vulkan_rope(napi_env env, napi_callback_info info) {
  napi_value a[7];
  if (!kiln_get_args(env, info, 7, a)) return nullptr;
  float *v, *cs;
  size_t vn, cn;
  uint32_t n, heads, hd, nrot;
  bool neox;
  if (!f32(env, a[0], "v", &v, &vn) || !f32(env, a[1], "cs", &cs, &cn) || !u32(env, a[2], "n", &n) ||
      !u32(env, a[3], "heads", &heads) || !u32(env, a[4], "headDim", &hd) || !u32(env, a[5], "nRot", &nrot) ||
      napi_get_value_bool(env, a[6], &neox) != napi_ok)
    return nullptr;
  if (nrot % 2 || nrot > hd || vn < (size_t)n * heads * hd || cn < (size_t)n * nrot) return kiln_throw(env, "vulkan: bad sizes");
  std::string why;
  if (!kvk::test_rope(v, cs, n, heads, hd, nrot, neox, &why)) return fail(env, why);
  return nullptr;
}

// (g, u): g = op(g, u) in place, for the elementwise ops silu_mul, gelu_mul and add.
napi_value vulkan_pair(napi_env env, napi_callback_info info, bool (*op)(float *, const float *, uint32_t, std::string *)) {
  napi_value a[2];
  if (!kiln_get_args(env, info, 2, a)) return nullptr;
  float *g, *u;
  size_t gn, un;
  if (!f32(env, a[0], "g", &g, &gn) || !f32(env, a[1], "u", &u, &un)) return nullptr;
  if (gn == 0 || un < gn) return kiln_throw(env, "vulkan: bad sizes");
  std::string why;
  if (!op(g, u, (uint32_t)gn, &why)) return fail(env, why);
  return nullptr;
}

napi_value vulkan_silu_mul(napi_env env, napi_callback_info info) { return vulkan_pair(env, info, kvk::test_silu_mul); }
napi_value vulkan_gelu_mul(napi_env env, napi_callback_info info) { return vulkan_pair(env, info, kvk::test_gelu_mul); }
napi_value vulkan_add(napi_env env, napi_callback_info info) { return vulkan_pair(env, info, kvk::test_add); }

napi_value vulkan_attn(napi_env env, napi_callback_info info) {
  napi_value a[14];
  if (!kiln_get_args(env, info, 14, a)) return nullptr;
  float *q, *k, *v, *out;
  void *kc, *vc;
  size_t qn, kn, vn, on, kcn, vcn;
  uint32_t n, nh, nkv, hd, pos0, window;
  double scale, softcap;
  if (!f32(env, a[0], "q", &q, &qn) || !f32(env, a[1], "k", &k, &kn) || !f32(env, a[2], "v", &v, &vn) ||
      !kiln_get_typed(env, a[3], napi_uint8_array, "kc0", &kc, &kcn) ||
      !kiln_get_typed(env, a[4], napi_uint8_array, "vc0", &vc, &vcn) || !u32(env, a[5], "n", &n) ||
      !u32(env, a[6], "nHead", &nh) || !u32(env, a[7], "nHeadKv", &nkv) || !u32(env, a[8], "headDim", &hd) ||
      !u32(env, a[9], "pos0", &pos0) || napi_get_value_double(env, a[10], &scale) != napi_ok ||
      !f32(env, a[11], "out", &out, &on) || napi_get_value_double(env, a[12], &softcap) != napi_ok ||
      !u32(env, a[13], "window", &window))
    return nullptr;
  const size_t kvdim = (size_t)nkv * hd;
  if (n == 0 || nkv == 0 || qn < (size_t)n * nh * hd || kn < n * kvdim || vn < n * kvdim || kcn < pos0 * kvdim * 2 ||
      vcn < pos0 * kvdim * 2 || on < (size_t)n * nh * hd)
    return kiln_throw(env, "vulkan: bad sizes");
  std::string why;
  if (!kvk::test_attn(q, k, v, static_cast<const uint16_t *>(kc), static_cast<const uint16_t *>(vc), n, nh, nkv, hd, pos0,
                      (float)scale, (float)softcap, window, out, &why))
    return fail(env, why);
  return nullptr;
}
#else
napi_value not_built(napi_env env, napi_callback_info) { return kiln_throw(env, "vulkan: kiln was built without the Vulkan backend"); }
#endif

} // namespace

void kiln_register_vulkan(napi_env env, napi_value exports) {
  kiln_export(env, exports, "vulkanInfo", vulkan_info);
#if KILN_HAVE_VULKAN
  kiln_export(env, exports, "vulkanMatmul", vulkan_matmul);
  kiln_export(env, exports, "vulkanRmsnorm", vulkan_rmsnorm);
  kiln_export(env, exports, "vulkanRope", vulkan_rope);
  kiln_export(env, exports, "vulkanSiluMul", vulkan_silu_mul);
  kiln_export(env, exports, "vulkanGeluMul", vulkan_gelu_mul);
  kiln_export(env, exports, "vulkanAdd", vulkan_add);
  kiln_export(env, exports, "vulkanAttn", vulkan_attn);
#else
  for (const char *n : {"vulkanMatmul", "vulkanRmsnorm", "vulkanRope", "vulkanSiluMul", "vulkanGeluMul", "vulkanAdd", "vulkanAttn"}) kiln_export(env, exports, n, not_built);
#endif
}
