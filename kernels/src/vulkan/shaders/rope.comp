#version 450
// RoPE in place over n tokens x heads: pair i of a head rotated by the
// (cos, sin) of its token's row in the table cs (n x n_rot/2 pairs, computed
// on the host as the CPU path does, frequency factors included). neox: pairs
// (i, i + n_rot/2); else adjacent pairs (2i, 2i + 1). Each token's heads start
// stride floats apart.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Vb { float v[]; };
layout(std430, binding = 1) readonly buffer Cb { float cs[]; };
layout(push_constant) uniform P { uint n, heads, head_dim, n_rot, neox, stride; } p;

void main() {
  uint half_rot = p.n_rot / 2u;
  uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65536u;
  if (id >= p.n * p.heads * half_rot) return;
  uint i = id % half_rot, h = (id / half_rot) % p.heads, t = id / (half_rot * p.heads);
  float c = cs[(t * half_rot + i) * 2u], s = cs[(t * half_rot + i) * 2u + 1u];
  uint b = t * p.stride + h * p.head_dim;
  uint a = p.neox != 0u ? b + i : b + 2u * i;
  uint bb = p.neox != 0u ? b + i + half_rot : b + 2u * i + 1u;
  float x0 = v[a], x1 = v[bb];
  v[a] = x0 * c - x1 * s;
  v[bb] = x0 * s + x1 * c;
}
