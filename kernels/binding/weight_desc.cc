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
