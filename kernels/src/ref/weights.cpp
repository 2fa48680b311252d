#include "weights.h"

#include <math.h>
#include <stdlib.h>

static int imp_mode() {
  static const int m = [] {
    const char *v = getenv("KILN_QUANT_IMP");
    return v != nullptr ? atoi(v) : 0;
  }();
  return m;
}

void kiln_block_weights(const float *x, int n, const float *imp, float sigma2, kiln_weight_rule rule, float *w) {
  const float av = sqrtf(sigma2);
  double sum = 0;
  for (int i = 0; i < n; i++) {
    const float a = fabsf(x[i]);
    float v;
    if (imp != nullptr && imp_mode() == 0) {
      v = imp[i] * sqrtf(sigma2 + x[i] * x[i]);
    } else if (imp != nullptr && imp_mode() == 1) {
      v = imp[i];
    } else {
      switch (rule) {
      case KILN_W_ABS: v = a; break;
      case KILN_W_SQ: v = x[i] * x[i]; break;
      case KILN_W_AVABS: v = av + a; break;
      case KILN_W_SIGMA: v = sqrtf(sigma2 + x[i] * x[i]); break;
      default: v = 1.0f; break;
      }
      if (imp != nullptr) v *= imp[i];
    }
    w[i] = isfinite(v) && v > 0 ? v : 0.0f;
    sum += w[i];
  }
  if (!(sum > 0))
    for (int i = 0; i < n; i++) w[i] = 1.0f;
}

float kiln_mean_square(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(x[i]) * x[i];
  return n > 0 ? static_cast<float>(s / n) : 0.0f;
}

#include <stdio.h>
#include <stdlib.h>

kiln_weight_rule kiln_rule_for(const char *type, kiln_weight_rule def) {
  char name[64];
  snprintf(name, sizeof name, "KILN_QUANT_RULE_%s", type);
  const char *v = getenv(name);
  if (v == nullptr || *v < '0' || *v > '4') return def;
  return static_cast<kiln_weight_rule>(*v - '0');
}
