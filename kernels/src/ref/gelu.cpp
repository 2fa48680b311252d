// GELU through a binary16 table, as ggml's CPU backend does (see gelu.h).
#include "gelu.h"

#include <math.h>

#include "half.h"

namespace {

constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
constexpr float kCoefA = 0.044715f;

// One f16 result per f16 input bit pattern, built on first use (thread-safe static init).
struct GeluTable {
  uint16_t v[1 << 16];
  GeluTable() {
    for (uint32_t i = 0; i < (1u << 16); i++) v[i] = kiln_f32_to_f16(kiln_gelu_exact(kiln_f16_to_f32((uint16_t)i)));
  }
};

const GeluTable &table() {
  static const GeluTable t;
  return t;
}

} // namespace

extern "C" float kiln_gelu_exact(float x) { return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * x * (1.0f + kCoefA * x * x))); }

extern "C" float kiln_gelu(float x) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return kiln_f16_to_f32(table().v[kiln_f32_to_f16(x)]);
}

extern "C" void kiln_gelu_rows(const float *x, float *y, int64_t n) {
  const GeluTable &t = table();
  for (int64_t i = 0; i < n; i++) {
    const float xi = x[i];
    y[i] = xi <= -10.0f ? 0.0f : xi >= 10.0f ? xi : kiln_f16_to_f32(t.v[kiln_f32_to_f16(xi)]);
  }
}
