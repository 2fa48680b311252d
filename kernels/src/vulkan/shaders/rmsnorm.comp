#version 450
// out[row] = x[row] / sqrt(mean(x[row]^2) + eps) * w, one workgroup per row of d
// values (a token's hidden state, or one head of q or k). out may be x.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Xb { float x[]; };
layout(std430, binding = 1) readonly buffer Wb { float wt[]; };
layout(std430, binding = 2) buffer Ob { float o[]; };
layout(push_constant) uniform P { uint d, rows; float eps; } p;
shared float red[64];

void main() {
  uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * 32768u;
  uint tid = gl_LocalInvocationID.x;
  if (row >= p.rows) return;
  uint b = row * p.d;
  float s = 0.0;
  for (uint i = tid; i < p.d; i += 64u) s += x[b + i] * x[b + i];
  red[tid] = s;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (tid < k) red[tid] += red[tid + k];
    barrier();
  }
  float scale = 1.0 / sqrt(red[0] / float(p.d) + p.eps);
  barrier();
  for (uint i = tid; i < p.d; i += 64u) o[b + i] = x[b + i] * scale * wt[i];
}
