#version 450
// Context shift of one layer's f16 K cache: row i of src (a copy of the rows
// that move) is re-rotated by the (cos, sin) pairs in cs (RoPE by -discard
// positions) and written at position keep + i of the cache. One invocation
// per (row, KV head); head_dim is even and at most 256.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Sb { uint src[]; };
layout(std430, binding = 1) buffer Db { uint dst[]; };
layout(std430, binding = 2) readonly buffer Cb { float cs[]; };
layout(push_constant) uniform P { uint moved, kvdim, head_dim, heads, n_rot, neox, keep; } p;

void main() {
  uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65536u;
  if (id >= p.moved * p.heads) return;
  uint row = id / p.heads, h = id % p.heads;
  uint s = (row * p.kvdim + h * p.head_dim) / 2u;
  uint d = ((p.keep + row) * p.kvdim + h * p.head_dim) / 2u;
  float v[256];
  for (uint i = 0u; i < p.head_dim / 2u; i++) {
    vec2 pr = unpackHalf2x16(src[s + i]);
    v[2u * i] = pr.x;
    v[2u * i + 1u] = pr.y;
  }
  uint half_rot = p.n_rot / 2u;
  for (uint i = 0u; i < half_rot; i++) {
    float c = cs[2u * i], sn = cs[2u * i + 1u];
    uint a = p.neox != 0u ? i : 2u * i, b = p.neox != 0u ? i + half_rot : 2u * i + 1u;
    float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * sn;
    v[b] = x0 * sn + x1 * c;
  }
  for (uint i = 0u; i < p.head_dim / 2u; i++) dst[d + i] = packHalf2x16(vec2(v[2u * i], v[2u * i + 1u]));
}
