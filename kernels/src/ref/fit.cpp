#include "fit.h"

#include <math.h>

#include "blocks.h"

namespace {

inline int code_sym(float x, float inv, int qmin, int qmax) { return kiln_clamp(kiln_round(x * inv), qmin, qmax); }

// Least-squares scale for fixed codes, and the resulting error.
struct SymFit {
  float s;
  double err;
};

SymFit sym_refit(const float *x, int n, float s, int qmin, int qmax) {
  double sqx = 0, sqq = 0, sxx = 0;
  const float inv = 1.0f / s;
  for (int i = 0; i < n; i++) {
    const int q = code_sym(x[i], inv, qmin, qmax);
    sqx += static_cast<double>(q) * x[i];
    sqq += static_cast<double>(q) * q;
    sxx += static_cast<double>(x[i]) * x[i];
  }
  if (sqq == 0) return {0.0f, sxx};
  return {static_cast<float>(sqx / sqq), sxx - sqx * sqx / sqq};
}

} // namespace

double kiln_err_symmetric(const float *x, int n, float s, int qmin, int qmax) {
  double err = 0;
  const float inv = s != 0 ? 1.0f / s : 0.0f;
  for (int i = 0; i < n; i++) {
    const float y = s * static_cast<float>(s != 0 ? code_sym(x[i], inv, qmin, qmax) : 0);
    const double e = static_cast<double>(y) - x[i];
    err += e * e;
  }
  return err;
}

float kiln_fit_symmetric(const float *x, int n, int qmin, int qmax) {
  float amax = 0, m = 0;
  for (int i = 0; i < n; i++) {
    const float ax = fabsf(x[i]);
    if (ax > amax) {
      amax = ax;
      m = x[i];
    }
  }
  if (!(amax > 0) || !isfinite(amax)) return 0.0f;

  // 2 x 9 candidates: doubling the grid gained under 1% error (measured with
  // tools/ggml-oracle) at twice the cost.
  const int steps = 8;
  float best_s = 0;
  double best_err = INFINITY;
  for (int side = 0; side < 2; side++) {
    // m lands on code `target`: -|qmin| .. on the negative end, qmax .. on the positive.
    const float end = side == 0 ? static_cast<float>(qmin) - 0.45f : static_cast<float>(qmax) + 0.45f;
    for (int k = 0; k <= steps; k++) {
      const float target = end * (1.0f - 0.45f * static_cast<float>(k) / steps);
      const float s0 = m / target;
      if (!(s0 != 0) || !isfinite(s0)) continue;
      const SymFit f = sym_refit(x, n, s0, qmin, qmax);
      if (f.s != 0 && f.err < best_err) {
        best_err = f.err;
        best_s = f.s;
      }
    }
  }
  // Polish: re-round with the fitted scale, re-fit; stop when it stops helping.
  for (int it = 0; it < 4 && best_s != 0; it++) {
    const SymFit f = sym_refit(x, n, best_s, qmin, qmax);
    if (!(f.s != 0) || !(f.err < best_err)) break;
    best_err = f.err;
    best_s = f.s;
  }
  return best_s;
}

namespace {

struct AffFit {
  float a, c;
  double err;
};

// Least-squares (a, c) for the codes that (a0, c0) assigns.
AffFit aff_refit(const float *x, int n, int qmax, bool nonpos, float a0, float c0) {
  const float inv = 1.0f / a0;
  double sq = 0, sqq = 0, sx = 0, sqx = 0, sxx = 0;
  for (int i = 0; i < n; i++) {
    const int q = kiln_clamp(kiln_round((x[i] - c0) * inv), 0, qmax);
    sq += q;
    sqq += static_cast<double>(q) * q;
    sx += x[i];
    sqx += static_cast<double>(q) * x[i];
    sxx += static_cast<double>(x[i]) * x[i];
  }
  double a, c;
  const double det = n * sqq - sq * sq;
  if (det > 0) {
    a = (n * sqx - sq * sx) / det;
    c = (sqq * sx - sq * sqx) / det;
  } else { // every code equal: only the offset is determined
    a = a0;
    c = (sx - a * sq) / n;
  }
  if (nonpos && c > 0) {
    c = 0;
    a = sqq > 0 ? sqx / sqq : 0;
  }
  if (!(a > 0)) { // degenerate: constant fit
    a = 0;
    c = sx / n;
    if (nonpos && c > 0) c = 0;
  }
  // error = sum (a q + c - x)^2, expanded over the accumulated moments
  const double err = a * a * sqq + 2 * a * c * sq + n * c * c - 2 * a * sqx - 2 * c * sx + sxx;
  return {static_cast<float>(a), static_cast<float>(c), err < 0 ? 0 : err};
}

} // namespace

void kiln_fit_affine(const float *x, int n, int qmax, bool nonpos, float *a_out, float *c_out) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  if (nonpos && lo > 0) lo = 0;
  if (!isfinite(lo) || !isfinite(hi) || !(hi > lo)) {
    // constant (or unusable) sub-block: all codes 0, offset carries the value
    *a_out = 0;
    *c_out = isfinite(lo) ? lo : 0;
    return;
  }
  // 16 candidates: 31 measured no better.
  const int steps = 15;
  AffFit best = {0, lo, INFINITY};
  for (int k = 0; k <= steps; k++) {
    const float levels = static_cast<float>(qmax) - 1.5f + 3.0f * static_cast<float>(k) / steps;
    if (!(levels > 0.5f)) continue;
    const float a0 = (hi - lo) / levels;
    if (!(a0 > 0) || !isfinite(a0)) continue;
    const AffFit f = aff_refit(x, n, qmax, nonpos, a0, lo);
    if (f.a > 0 && f.err < best.err) best = f;
  }
  for (int it = 0; it < 4 && best.a > 0; it++) {
    const AffFit f = aff_refit(x, n, qmax, nonpos, best.a, best.c);
    if (!(f.a > 0) || !(f.err < best.err)) break;
    best = f;
  }
  *a_out = best.a;
  *c_out = best.c;
}
