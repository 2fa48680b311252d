#version 450
// g[i] = silu(g[i]) * u[i] = g / (1 + e^-g) * u, in place.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Gb { float g[]; };
layout(std430, binding = 1) readonly buffer Ub { float u[]; };
layout(push_constant) uniform P { uint count; } p;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65536u;
  if (i >= p.count) return;
  float v = g[i];
  g[i] = v / (1.0 + exp(-v)) * u[i];
}
