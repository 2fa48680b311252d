#version 450
// Writes n tokens' k and v rows (kvdim floats each) into one layer's f16 KV
// cache (kvdim even: two binary16 values per word): token t's row goes to
// cache row tok[2t + 1] + tok[2t] (its sequence's first row, plus its position).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Kb { float k[]; };
layout(std430, binding = 1) readonly buffer Vb { float v[]; };
layout(std430, binding = 2) buffer KCb { uint kc[]; };
layout(std430, binding = 3) buffer VCb { uint vc[]; };
layout(std430, binding = 4) readonly buffer Tb { uint tok[]; };
layout(push_constant) uniform P { uint n, kvdim; } p;

void main() {
  uint id = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65536u;
  uint pairs = p.kvdim / 2u;
  if (id >= p.n * pairs) return;
  uint t = id / pairs, j = id % pairs;
  uint src = t * p.kvdim + 2u * j;
  uint dst = ((tok[2u * t + 1u] + tok[2u * t]) * p.kvdim) / 2u + j;
  kc[dst] = packHalf2x16(vec2(k[src], k[src + 1u]));
  vc[dst] = packHalf2x16(vec2(v[src], v[src + 1u]));
}
