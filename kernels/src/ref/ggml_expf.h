// e^x as llama.cpp's CPU builds compute it in their vector SiLU (and softmax):
// the reduction and degree-5 polynomial of Arm's optimized-routines expf,
// lane by lane. x = k ln 2 + r with k = round(x / ln 2) (by adding and
// subtracting 1.5 * 2^23 after an FMA), ln 2 in two parts, e^r ~ 1 + c1 r +
// (c2 + c3 r) r^2 + (c4 + c5 r) r^4 grouped as below, then scaled by 2^k:
// exactly for a normal result, rounded once for a subnormal one, and 0 or
// infinity where |k| > 192. Within ~1.5 ulp of e^x; what matters here is that
// every lane equals llama.cpp's, so SiLU(gate) * up agrees bit for bit.
#pragma once
#include <math.h>

namespace kiln_ggml_expf {

constexpr float kShift = 0x1.8p23f, kLog2e = 0x1.715476p+0f, kLn2Hi = 0x1.62e4p-1f, kLn2Lo = 0x1.7f7d1cp-20f;
constexpr float kC1 = 0x1.ffffecp-1f, kC2 = 0x1.fffdb6p-2f, kC3 = 0x1.555e66p-3f, kC4 = 0x1.573e2ep-5f, kC5 = 0x1.0e4020p-7f;

// The polynomial part for one lane: *k gets the power of two, the result e^r.
inline float poly(float x, float *k) {
  const float z = fmaf(x, kLog2e, kShift);
  const float n = z - kShift;
  const float r = fmaf(-n, kLn2Lo, fmaf(-n, kLn2Hi, x));
  const float r2 = r * r;
  *k = n;
  return fmaf(fmaf(fmaf(kC5, r, kC4), r2, fmaf(kC3, r, kC2)), r2, fmaf(kC1, r, 1.0f));
}

// p * 2^k with the special cases above.
inline float scale(float p, float k) {
  if (k != k) return k;
  if (fabsf(k) > 192.0f) return k > 0.0f ? INFINITY : 0.0f;
  return (float)ldexp((double)p, (int)k);
}

inline float expf(float x) {
  float k;
  const float p = poly(x, &k);
  return scale(p, k);
}

// llama.cpp's SiLU(g) * u for one lane of its vector loop, and for the
// elements past the last whole vector (libm's expf there).
inline float silu_mul_vec(float g, float u) { return (g / (1.0f + expf(0.0f - g))) * u; }
inline float silu_mul_tail(float g, float u) { return (g / (1.0f + ::expf(-g))) * u; }

} // namespace kiln_ggml_expf
