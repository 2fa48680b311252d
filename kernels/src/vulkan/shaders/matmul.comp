#version 450
// Y[t][r] (+)= dot(W row r, X[t]) (+ bias[r]) for a block of tokens: the
// dequantize-matvec of every weight type kiln offloads (F32, F16, Q4_0, Q8_0,
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

uint rb(uint i) { return (w[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu; }
float rh(uint i) { uint v = w[i >> 2]; return unpackHalf2x16((i & 2u) != 0u ? v >> 16 : v & 0xFFFFu).x; }
int rs8(uint i) { int v = int(rb(i)); return v >= 128 ? v - 256 : v; }

// The 6-bit scale (.x) and min (.y) of sub-block j of a Q4_K/Q5_K super-block whose 12 scale bytes start at s.
uvec2 scale_min(uint s, uint j) {
  if (j < 4u) return uvec2(rb(s + j) & 63u, rb(s + j + 4u) & 63u);
  return uvec2((rb(s + j + 4u) & 15u) | ((rb(s + j - 4u) >> 6) << 4), (rb(s + j + 4u) >> 4) | ((rb(s + j) >> 6) << 4));
}

float deq(uint base, uint i) {
  if (TYPE == 0u) return uintBitsToFloat(w[(base >> 2) + i]);
  if (TYPE == 1u) return rh(base + 2u * i);
  if (TYPE == 2u) { // Q4_0: 18-byte blocks of 32
    uint b = base + (i >> 5) * 18u, j = i & 31u;
    uint q = j < 16u ? rb(b + 2u + j) & 15u : rb(b + 2u + j - 16u) >> 4;
    return rh(b) * (float(q) - 8.0);
  }
  if (TYPE == 8u) { // Q8_0: 34-byte blocks of 32
    uint b = base + (i >> 5) * 34u;
    return rh(b) * float(rs8(b + 2u + (i & 31u)));
  }
  if (TYPE == 12u || TYPE == 13u) { // Q4_K (144 bytes) / Q5_K (176 bytes) super-blocks of 256
    uint sz = TYPE == 12u ? 144u : 176u;
    uint b = base + (i >> 8) * sz, e = i & 255u;
    uint sub = e >> 5, l = e & 31u, c = e >> 6;
    uvec2 sm = scale_min(b + 4u, sub);
    uint qs = TYPE == 12u ? b + 16u : b + 48u;
    uint q = (rb(qs + 32u * c + l) >> (4u * (sub & 1u))) & 15u;
    if (TYPE == 13u) q |= ((rb(b + 16u + l) >> sub) & 1u) << 4;
    return rh(b) * float(sm.x) * float(q) - rh(b + 2u) * float(sm.y);
  }
  if (TYPE == 14u) { // Q6_K: 210-byte super-blocks of 256
    uint b = base + (i >> 8) * 210u, e = i & 255u;
    uint h = e >> 7, r = e & 127u;
    uint lo = (rb(b + 64u * h + (r & 63u)) >> (4u * (r >> 6))) & 15u;
    uint hi = (rb(b + 128u + 32u * h + (r & 31u)) >> (2u * (r >> 5))) & 3u;
    return rh(b + 208u) * float(rs8(b + 192u + (e >> 4))) * (float(lo | (hi << 4)) - 32.0);
  }
  return 0.0;
}

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
