#include "fit.h"

#include <math.h>

#include "blocks.h"

namespace {

// clamp(round(v), lo, hi) for lo <= 0 <= hi, without branches: the same
// value as kiln_clamp(kiln_round(v), lo, hi) for every input (lrintf's
// out-of-range result, NaN and inf included, lands on lo or hi either way),
// but data-dependent branches mispredicted on every clamped value and
// dominated the searches below.
inline int round_clamp(float v, int lo, int hi) {
  long r = __builtin_lrintf(v);
  r = r < lo ? lo : r;
  r = r > hi ? hi : r;
  return static_cast<int>(r);
}

inline int code_sym(float x, float inv, int qmin, int qmax) { return round_clamp(x * inv, qmin, qmax); }

// Least-squares scale for fixed codes, and the resulting error. sxx (sum of
// x^2, the same for every candidate) is summed once by the caller, in the
// same order; sum q^2 is an exact integer.
struct SymFit {
  float s;
  double err;
};

SymFit sym_refit(const float *x, const float *w, int n, float s, int qmin, int qmax, double sxx) {
  double sqx = 0, sqq = 0;
  const float inv = 1.0f / s;
  for (int i = 0; i < n; i++) {
    const int q = code_sym(x[i], inv, qmin, qmax);
    const double wq = static_cast<double>(w[i]) * q;
    sqx += wq * x[i];
    sqq += wq * q;
  }
  if (!(sqq > 0)) return {0.0f, sxx};
  return {static_cast<float>(sqx / sqq), sxx - sqx * sqx / sqq};
}

// sym_refit for up to 18 candidate scales at once. Each candidate's sums are
// still taken in index order, so every result equals sym_refit's bit for bit;
// side by side, the candidates' additions no longer wait on each other (one
// candidate at a time, the search waited on a chain of double additions).
const int MAX_CANDIDATES = 18;

void sym_refit_many(const float *x, const float *w, int n, const float *s, int count, int qmin, int qmax, double sxx,
                    SymFit *out) {
  float inv[MAX_CANDIDATES];
  double sqx[MAX_CANDIDATES], sqq[MAX_CANDIDATES];
  for (int k = 0; k < count; k++) {
    inv[k] = 1.0f / s[k];
    sqx[k] = 0;
    sqq[k] = 0;
  }
  for (int i = 0; i < n; i++) {
    const float xi = x[i];
    const double wi = w[i];
    for (int k = 0; k < count; k++) {
      const int q = code_sym(xi, inv[k], qmin, qmax);
      const double wq = wi * q;
      sqx[k] += wq * xi;
      sqq[k] += wq * q;
    }
  }
  for (int k = 0; k < count; k++) {
    if (!(sqq[k] > 0)) {
      out[k] = {0.0f, sxx};
      continue;
    }
    out[k] = {static_cast<float>(sqx[k] / sqq[k]), sxx - sqx[k] * sqx[k] / sqq[k]};
  }
}

double sum_squares(const float *x, const float *w, int n) {
  double sxx = 0;
  for (int i = 0; i < n; i++) sxx += static_cast<double>(w[i]) * x[i] * x[i];
  return sxx;
}

// Unit weights for callers that pass none (blocks are at most 32 values).
const float ONES[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

} // namespace

double kiln_err_symmetric(const float *x, const float *w, int n, float s, int qmin, int qmax) {
  if (w == nullptr) w = ONES;
  double err = 0;
  const float inv = s != 0 ? 1.0f / s : 0.0f;
  for (int i = 0; i < n; i++) {
    const float y = s * static_cast<float>(s != 0 ? code_sym(x[i], inv, qmin, qmax) : 0);
    const double e = static_cast<double>(y) - x[i];
    err += w[i] * e * e;
  }
  return err;
}

float kiln_fit_symmetric(const float *x, const float *w, int n, int qmin, int qmax) {
  if (w == nullptr) w = ONES;
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
  const double sxx = sum_squares(x, w, n);
  float cand[2 * (steps + 1)];
  int count = 0;
  for (int side = 0; side < 2; side++) {
    // m lands on code `target`: -|qmin| .. on the negative end, qmax .. on the positive.
    const float end = side == 0 ? static_cast<float>(qmin) - 0.45f : static_cast<float>(qmax) + 0.45f;
    for (int k = 0; k <= steps; k++) {
      const float target = end * (1.0f - 0.45f * static_cast<float>(k) / steps);
      const float s0 = m / target;
      if (!(s0 != 0) || !isfinite(s0)) continue;
      cand[count++] = s0;
    }
  }
  SymFit fits[2 * (steps + 1)];
  sym_refit_many(x, w, n, cand, count, qmin, qmax, sxx, fits);
  float best_s = 0;
  double best_err = INFINITY;
  for (int k = 0; k < count; k++) { // in candidate order: ties go to the first
    if (fits[k].s != 0 && fits[k].err < best_err) {
      best_err = fits[k].err;
      best_s = fits[k].s;
    }
  }
  // Polish: re-round with the fitted scale, re-fit; stop when it stops helping.
  for (int it = 0; it < 4 && best_s != 0; it++) {
    const SymFit f = sym_refit(x, w, n, best_s, qmin, qmax, sxx);
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

// Weighted least-squares (a, c) from the moments of the codes that (a0, c0)
// assigned: sw = sum w, sq = sum w q, sqq = sum w q^2, sqx = sum w q x, with
// sx = sum w x, sxx = sum w x^2.
AffFit aff_solve(double n, bool nonpos, float a0, double sq, double sqq, double sx, double sqx, double sxx) {
  double a, c;
  const double det = n * sqq - sq * sq;
  if (det > n * sqq * 1e-12) {
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

// The fits for candidate steps a0[k] (codes round((x - c0) / a0[k])), all in
// one pass like sym_refit_many; sx and sxx (the same for every candidate) are
// summed once by the caller, in the same order; sum q and sum q^2 are exact
// integers. Bit-identical to fitting the candidates one at a time.
void aff_refit_many(const float *x, const float *w, int n, int qmax, bool nonpos, const float *a0, int count, float c0,
                    double sw, double sx, double sxx, AffFit *out) {
  float inv[MAX_CANDIDATES];
  double sqx[MAX_CANDIDATES], iq[MAX_CANDIDATES], iqq[MAX_CANDIDATES];
  for (int k = 0; k < count; k++) {
    inv[k] = 1.0f / a0[k];
    sqx[k] = 0;
    iq[k] = iqq[k] = 0;
  }
  for (int i = 0; i < n; i++) {
    const float xi = x[i], d = xi - c0;
    const double wi = w[i];
    for (int k = 0; k < count; k++) {
      const int q = round_clamp(d * inv[k], 0, qmax);
      const double wq = wi * q;
      iq[k] += wq;
      iqq[k] += wq * q;
      sqx[k] += wq * xi;
    }
  }
  for (int k = 0; k < count; k++) out[k] = aff_solve(sw, nonpos, a0[k], iq[k], iqq[k], sx, sqx[k], sxx);
}

} // namespace

void kiln_fit_affine(const float *x, const float *w, int n, int qmax, bool nonpos, float *a_out, float *c_out) {
  if (w == nullptr) w = ONES;
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
  double sx = 0, sw = 0;
  for (int i = 0; i < n; i++) {
    sx += static_cast<double>(w[i]) * x[i];
    sw += w[i];
  }
  const double sxx = sum_squares(x, w, n);
  float cand[steps + 1];
  int count = 0;
  for (int k = 0; k <= steps; k++) {
    const float levels = static_cast<float>(qmax) - 1.5f + 3.0f * static_cast<float>(k) / steps;
    if (!(levels > 0.5f)) continue;
    const float a0 = (hi - lo) / levels;
    if (!(a0 > 0) || !isfinite(a0)) continue;
    cand[count++] = a0;
  }
  AffFit fits[steps + 1];
  aff_refit_many(x, w, n, qmax, nonpos, cand, count, lo, sw, sx, sxx, fits);
  AffFit best = {0, lo, INFINITY};
  for (int k = 0; k < count; k++) // in candidate order: ties go to the first
    if (fits[k].a > 0 && fits[k].err < best.err) best = fits[k];
  for (int it = 0; it < 4 && best.a > 0; it++) {
    AffFit f;
    aff_refit_many(x, w, n, qmax, nonpos, &best.a, 1, best.c, sw, sx, sxx, &f);
    if (!(f.a > 0) || !(f.err < best.err)) break;
    best = f;
  }
  *a_out = best.a;
  *c_out = best.c;
}
