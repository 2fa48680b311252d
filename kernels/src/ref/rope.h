// The rotation of one RoPE pair, with llama.cpp's rounding. ggml's CPU RoPE
// writes x0*cos - x1*sin and x0*sin + x1*cos, and its x86 builds (compiled
// with FMA and GCC's default contraction) round them as
// fma(x0, cos, -(x1*sin)) and fma(x0, sin, x1*cos): the second product rounded
// first, the first fused. kiln compiles with contraction off, so it writes the
// fused form out where the CPU has FMA (where llama.cpp's builds use it) and
// the two rounded products elsewhere. One ulp apart in q or k is enough to
// flip a binary16 rounding in the KV cache, which then moves every later
// score of that head.
#pragma once
#include <math.h>

#include "../cpu.h"

inline bool kiln_rope_fused() {
  static const bool fused = kiln_cpu_probe()->fma;
  return fused;
}

// v[a], v[b] rotated by the angle whose cosine and sine are c and s.
inline void kiln_rope_pair(float *v, int a, int b, float c, float s, bool fused) {
  const float x0 = v[a], x1 = v[b];
  if (fused) {
    v[a] = fmaf(x0, c, -(x1 * s));
    v[b] = fmaf(x0, s, x1 * c);
  } else {
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
  }
}
