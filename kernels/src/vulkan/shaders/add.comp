#version 450
// x[i] += y[i]: a residual add (after a post-norm, which writes its own buffer).
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Xb { float x[]; };
layout(std430, binding = 1) readonly buffer Yb { float y[]; };
layout(push_constant) uniform P { uint count; } p;

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65536u;
  if (i >= p.count) return;
  x[i] += y[i];
}
