#version 450
#extension GL_GOOGLE_include_directive : require
// The matmul of matmul.comp with one invocation per output row (and token
// block) and no shared memory or barriers: the variant for CPU devices
// (lavapipe), where barriers cost far more than on a GPU and every
// invocation is a SIMD lane anyway. Same bindings and push constants.
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint TYPE = 0;

layout(std430, binding = 0) readonly buffer Wb { uint w[]; };
layout(std430, binding = 1) readonly buffer Xb { float x[]; };
layout(std430, binding = 2) buffer Yb { float y[]; };
layout(std430, binding = 3) readonly buffer Bb { float bias[]; };

layout(push_constant) uniform P {
  uint rows, cols, row_bytes, n, x_stride, y_stride, y_off, flags;
} p;

const uint TB = 4;

#include "dequant.glsl"

void main() {
  uint r = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65536u;
  uint t0 = gl_GlobalInvocationID.z * TB;
  if (r >= p.rows) return;
  uint nt = min(TB, p.n - t0);
  float acc[TB];
  for (uint k = 0u; k < TB; k++) acc[k] = 0.0;
  uint base = r * p.row_bytes;
  for (uint i = 0u; i < p.cols; i++) {
    float wv = deq(base, i);
    for (uint k = 0u; k < nt; k++) acc[k] += wv * x[(t0 + k) * p.x_stride + i];
  }
  for (uint k = 0u; k < nt; k++) {
    float v = acc[k];
    if ((p.flags & 2u) != 0u) v += bias[r];
    uint o = p.y_off + (t0 + k) * p.y_stride + r;
    if ((p.flags & 1u) != 0u) v += y[o];
    y[o] = v;
  }
}
