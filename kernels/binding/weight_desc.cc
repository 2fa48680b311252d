#include "weight_desc.h"

#include <math.h>

extern "C" {
#include "quants.h"
}

bool kiln_read_weight(napi_env env, const double *q, const uint8_t *base, size_t size, kiln_weight *w) {
  w->data = nullptr;
  if (q[0] < 0) return true; // absent
  const double off = q[0];
  const int type = (int)q[1];
  const double ne0 = q[2], ne1 = q[3] < 1 ? 1 : q[3];
  if (off != floor(off) || ne0 != floor(ne0) || ne1 != floor(ne1) || ne0 < 1 || ne0 > 1e9 || ne1 > 1e9) {
    kiln_throw(env, "bad tensor descriptor");
    return false;
  }
  const kiln_type_traits *tr = kiln_type_traits_of(type);
  if (tr == nullptr || (int64_t)ne0 % tr->block_size != 0) {
    kiln_throw(env, "tensor type %d is unsupported or its rows are not whole blocks", type);
    return false;
  }
  const double bytes = (double)kiln_row_size(type, (int64_t)ne0) * ne1;
  if (off + bytes > (double)size) {
    kiln_throw(env, "tensor bytes [%.0f, %.0f) lie outside the %zu-byte file", off, off + bytes, size);
    return false;
  }
  w->data = base + (size_t)off;
  w->type = type;
  w->ne0 = (int64_t)ne0;
  w->ne1 = (int64_t)ne1;
  return true;
}

bool kiln_read_weight_args(napi_env env, napi_value weights, napi_value buffer, size_t quads, const double **desc,
                           const uint8_t **base, size_t *size) {
  void *wp;
  size_t wn;
  if (!kiln_get_typed(env, weights, napi_float64_array, "weights", &wp, &wn)) return false;
  bool is_ab = false;
  napi_is_arraybuffer(env, buffer, &is_ab);
  if (!is_ab) {
    kiln_throw_type(env, "buffer must be an ArrayBuffer");
    return false;
  }
  void *b;
  if (napi_get_arraybuffer_info(env, buffer, &b, size) != napi_ok) {
    kiln_throw(env, "cannot read the buffer");
    return false;
  }
  if (wn != quads * 4) {
    kiln_throw(env, "weights has the wrong length");
    return false;
  }
  *desc = static_cast<const double *>(wp);
  *base = static_cast<const uint8_t *>(b);
  return true;
}
