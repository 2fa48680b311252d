#version 450
#extension GL_GOOGLE_include_directive : require
// Y[t][r] (+)= dot(W row r, X[t]) (+ bias[r]) for a block of tokens: the
// dequantize-matvec of every weight type kiln offloads (F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q4_K, Q5_K, Q6_K, chosen by specialization constant 0 = the ggml type id),
// and the prompt-batch matmul (each workgroup dequantizes a row once for TB
// tokens). Weights are read as 32-bit words and split into bytes, so no 8- or
// 16-bit storage feature is needed; any subgroup size works (shared-memory
// reduction over a fixed 64-thread workgroup).
layout(local_size_x = 64) in;
layout(constant_id = 0) const uint TYPE = 0;

layout(std430, binding = 0) readonly buffer Wb { uint w[]; };
layout(std430, binding = 1) readonly buffer Xb { float x[]; };
layout(std430, binding = 2) buffer Yb { float y[]; };
layout(std430, binding = 3) readonly buffer Bb { float bias[]; };

layout(push_constant) uniform P {
  uint rows, cols, row_bytes, n, x_stride, y_stride, y_off, flags; // flags: 1 accumulate into y, 2 add bias
} p;

const uint TB = 4;
shared float red[64 * TB];

#include "dequant.glsl"

void main() {
  uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * 32768u;
  uint t0 = gl_WorkGroupID.z * TB;
  uint tid = gl_LocalInvocationID.x;
  if (r >= p.rows) return; // uniform across the workgroup
  uint nt = min(TB, p.n - t0);
  float acc[TB];
  for (uint k = 0u; k < TB; k++) acc[k] = 0.0;
  uint base = r * p.row_bytes;
  for (uint i = tid; i < p.cols; i += 64u) {
    float wv = deq(base, i);
    for (uint k = 0u; k < nt; k++) acc[k] += wv * x[(t0 + k) * p.x_stride + i];
  }
  for (uint k = 0u; k < TB; k++) red[k * 64u + tid] = acc[k];
  barrier();
  for (uint s = 32u; s > 0u; s >>= 1) {
    if (tid < s)
      for (uint k = 0u; k < TB; k++) red[k * 64u + tid] += red[k * 64u + tid + s];
    barrier();
  }
  if (tid < nt) {
    float v = red[tid * 64u];
    if ((p.flags & 2u) != 0u) v += bias[r];
    uint o = p.y_off + (t0 + tid) * p.y_stride + r;
    if ((p.flags & 1u) != 0u) v += y[o];
    y[o] = v;
  }
}
