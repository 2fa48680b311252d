#version 450
// g[i] = gelu(g[i]) * u[i], in place: GELU in its tanh form taken, as the CPU
// path takes it from ggml's table, at the binary16 value of g and rounded to
// binary16; 0 at or below -10, the identity at or above 10.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer Gb { float g[]; };
layout(std430, binding = 1) readonly buffer Ub { float u[]; };
layout(push_constant) uniform P { uint count; } p;

float to_half(float v) { return unpackHalf2x16(packHalf2x16(vec2(v, 0.0))).x; }

void main() {
  uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65536u;
  if (i >= p.count) return;
  float v = g[i];
  float r;
  if (v <= -10.0) {
    r = 0.0;
  } else if (v >= 10.0) {
    r = v * u[i];
  } else {
    float h = to_half(v);
    float t = tanh(0.7978845608028654 * h * (1.0 + 0.044715 * h * h));
    r = to_half(0.5 * h * (1.0 + t)) * u[i];
  }
  g[i] = r;
}
