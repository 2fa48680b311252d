#include "kfit.h"

#include <math.h>

#include "blocks.h"
#include "fit.h"

namespace {

float clamp_scale(float d) {
  if (d > KILN_F16_MAX) return KILN_F16_MAX;
  if (d < -KILN_F16_MAX) return -KILN_F16_MAX;
  return d;
}

// clamp(round(v), lo, hi) for lo <= 0 <= hi without branches; the same value
// as kiln_clamp(kiln_round(v), lo, hi) for every input (see fit.cpp).
inline int round_clamp(float v, int lo, int hi) {
  long r = __builtin_lrintf(v);
  r = r < lo ? lo : r;
  r = r > hi ? hi : r;
  return static_cast<int>(r);
}

// Error of one affine sub-block for given codes, values rounded as stored.
double affine_err(const float *x, const float *w, int n, float dl, float ml, int qmax, uint8_t *q_out) {
  const float inv = dl > 0 ? 1.0f / dl : 0.0f;
  const int top = dl > 0 ? qmax : 0; // dl <= 0: every code 0
  double err = 0;
  for (int i = 0; i < n; i++) {
    const int q = round_clamp((x[i] + ml) * inv, 0, top);
    if (q_out) q_out[i] = static_cast<uint8_t>(q);
    const double e = static_cast<double>(dl * static_cast<float>(q) - ml) - x[i];
    err += w[i] * e * e;
  }
  return err;
}

double sym_err(const float *x, const float *w, int n, float dl, int qmin, int qmax, int *q_out) {
  const float inv = dl != 0 ? 1.0f / dl : 0.0f;
  const int lo = dl != 0 ? qmin : 0, hi = dl != 0 ? qmax : 0; // dl == 0: every code 0
  double err = 0;
  for (int i = 0; i < n; i++) {
    const int q = round_clamp(x[i] * inv, lo, hi);
    if (q_out) q_out[i] = q;
    const double e = static_cast<double>(dl * static_cast<float>(q)) - x[i];
    err += w[i] * e * e;
  }
  return err;
}

// The errors of up to MAX_PAIRS (scale, min) code pairs of one sub-block in
// one pass (the radius searches below, 25 pairs at radius 2). Each pair's error is summed in index order, so
// it equals affine_err's bit for bit; side by side, the pairs' additions no
// longer wait on each other.
const int MAX_PAIRS = 25;

void affine_err_many(const float *x, const float *w, int n, const float *dl, const float *ml, int count, int qmax, double *err) {
  float inv[MAX_PAIRS];
  int top[MAX_PAIRS];
  for (int p = 0; p < count; p++) {
    inv[p] = dl[p] > 0 ? 1.0f / dl[p] : 0.0f;
    top[p] = dl[p] > 0 ? qmax : 0;
    err[p] = 0;
  }
  for (int i = 0; i < n; i++) {
    const float xi = x[i];
    const double wi = w[i];
    for (int p = 0; p < count; p++) {
      const int q = round_clamp((xi + ml[p]) * inv[p], 0, top[p]);
      const double e = static_cast<double>(dl[p] * static_cast<float>(q) - ml[p]) - xi;
      err[p] += wi * e * e;
    }
  }
}

void sym_err_many(const float *x, const float *w, int n, const float *dl, int count, int qmin, int qmax, double *err) {
  float inv[MAX_PAIRS];
  int lo[MAX_PAIRS], hi[MAX_PAIRS];
  for (int p = 0; p < count; p++) {
    inv[p] = dl[p] != 0 ? 1.0f / dl[p] : 0.0f;
    lo[p] = dl[p] != 0 ? qmin : 0;
    hi[p] = dl[p] != 0 ? qmax : 0;
    err[p] = 0;
  }
  for (int i = 0; i < n; i++) {
    const float xi = x[i];
    const double wi = w[i];
    for (int p = 0; p < count; p++) {
      const int q = round_clamp(xi * inv[p], lo[p], hi[p]);
      const double e = static_cast<double>(dl[p] * static_cast<float>(q)) - xi;
      err[p] += wi * e * e;
    }
  }
}

} // namespace

namespace {

// One sub-block's best (scale, min) code pair within `radius` of the codes
// nearest its float fit, for stored super-block scales df/dminf; returns its
// error (ties go to the first pair in order).
double affine_codes(const float *xs, const float *ws, int sub_n, float a, float b, float df, float dminf, int qmax, int code_max,
                    int radius, int *sc, int *mn) {
  const int s0 = df > 0 ? kiln_clamp(kiln_round(a / df), 0, code_max) : 0;
  const int m0 = dminf > 0 ? kiln_clamp(kiln_round(b / dminf), 0, code_max) : 0;
  int ps[MAX_PAIRS], pm[MAX_PAIRS], count = 0;
  float dl[MAX_PAIRS], ml[MAX_PAIRS];
  double errs[MAX_PAIRS];
  int best_s = s0, best_m = m0;
  double best_err = INFINITY;
  const auto flush = [&]() {
    affine_err_many(xs, ws, sub_n, dl, ml, count, qmax, errs);
    for (int p = 0; p < count; p++) {
      if (errs[p] < best_err) {
        best_err = errs[p];
        best_s = ps[p];
        best_m = pm[p];
      }
    }
    count = 0;
  };
  for (int s = s0 - radius; s <= s0 + radius; s++) {
    if (s < 0 || s > code_max) continue;
    for (int m = m0 - radius; m <= m0 + radius; m++) {
      if (m < 0 || m > code_max) continue;
      ps[count] = s;
      pm[count] = m;
      dl[count] = df * static_cast<float>(s);
      ml[count] = dminf * static_cast<float>(m);
      if (++count == MAX_PAIRS) flush();
    }
  }
  if (count > 0) flush();
  *sc = best_s;
  *mn = best_m;
  return best_err;
}

double sym_codes(const float *xs, const float *ws, int sub_n, float s, float df, int qmin, int qmax, int code_min, int code_max, int radius,
                 int *sc) {
  const int l0 = df != 0 ? kiln_clamp(kiln_round(s / df), code_min, code_max) : 0;
  int pl[MAX_PAIRS], count = 0;
  float dl[MAX_PAIRS];
  double errs[MAX_PAIRS];
  int best_l = l0;
  double best_err = INFINITY;
  const auto flush = [&]() {
    sym_err_many(xs, ws, sub_n, dl, count, qmin, qmax, errs);
    for (int p = 0; p < count; p++) {
      if (errs[p] < best_err) {
        best_err = errs[p];
        best_l = pl[p];
      }
    }
    count = 0;
  };
  for (int l = l0 - radius; l <= l0 + radius; l++) {
    if (l < code_min || l > code_max) continue;
    pl[count] = l;
    dl[count] = df * static_cast<float>(l);
    if (++count == MAX_PAIRS) flush();
  }
  if (count > 0) flush();
  *sc = best_l;
  return best_err;
}

} // namespace

void kiln_quant_affine_super(const float *x, const float *w, int nsub, int sub_n, int qmax, int code_max, int radius, int tries,
                             kiln_affine_super *out) {
  float a[16], b[16];
  float amax = 0, bmax = 0;
  for (int j = 0; j < nsub; j++) {
    float c;
    kiln_fit_affine(x + j * sub_n, w + j * sub_n, sub_n, qmax, true, &a[j], &c);
    b[j] = -c;
    if (a[j] > amax) amax = a[j];
    if (b[j] > bmax) bmax = b[j];
  }
  // super-block scales: the largest sub-block scale (min) on the top code,
  // or, with tries > 0, on one of the `tries` codes below it: a coarser grid
  // can land the other sub-blocks' scales closer; the pair with the least
  // total error wins (the first on a tie)
  double best_total = INFINITY;
  uint16_t best_d = 0, best_dmin = 0;
  int sc[16], mn[16];
  for (int td = 0; td <= tries; td++) {
    for (int tm = 0; tm <= (tries > 0 ? 1 : 0); tm++) {
      const uint16_t d = kiln_f32_to_f16(clamp_scale(amax / static_cast<float>(code_max - td)));
      const uint16_t dmin = kiln_f32_to_f16(clamp_scale(bmax / static_cast<float>(code_max - tm)));
      const float df = kiln_fp16(d), dminf = kiln_fp16(dmin);
      double total = 0;
      for (int j = 0; j < nsub && total < best_total; j++)
        total += affine_codes(x + j * sub_n, w + j * sub_n, sub_n, a[j], b[j], df, dminf, qmax, code_max, radius, &sc[j], &mn[j]);
      if (total < best_total) {
        best_total = total;
        best_d = d;
        best_dmin = dmin;
      }
    }
  }
  out->d = best_d;
  out->dmin = best_dmin;
  const float df = kiln_fp16(best_d), dminf = kiln_fp16(best_dmin);
  for (int j = 0; j < nsub; j++) {
    const float *xs = x + j * sub_n, *ws = w + j * sub_n;
    affine_codes(xs, ws, sub_n, a[j], b[j], df, dminf, qmax, code_max, radius, &sc[j], &mn[j]);
    out->sc[j] = static_cast<uint8_t>(sc[j]);
    out->mn[j] = static_cast<uint8_t>(mn[j]);
    affine_err(xs, ws, sub_n, df * static_cast<float>(sc[j]), dminf * static_cast<float>(mn[j]), qmax, out->q + j * sub_n);
  }
}

void kiln_quant_sym_super(const float *x, const float *w, int nsub, int sub_n, int qmin, int qmax, int code_min,
                          int code_max, int radius, int tries, kiln_sym_super *out) {
  float s[16];
  float smax = 0, sm = 0;
  for (int j = 0; j < nsub; j++) {
    s[j] = kiln_fit_symmetric(x + j * sub_n, w + j * sub_n, sub_n, qmin, qmax);
    if (fabsf(s[j]) > smax) {
      smax = fabsf(s[j]);
      sm = s[j];
    }
  }
  // The largest sub-block scale takes the longer (negative) end of the code
  // range, or with tries > 0 one of the codes inside either end; the least
  // total error wins (the first on a tie).
  double best_total = INFINITY;
  uint16_t best_d = 0;
  int sc[16];
  for (int t = 0; t <= 2 * tries + (tries > 0 ? 1 : 0); t++) {
    const int c = t <= tries ? code_min + t : code_max - (t - tries - 1);
    const uint16_t d = kiln_f32_to_f16(clamp_scale(sm / static_cast<float>(c)));
    const float df = kiln_fp16(d);
    double total = 0;
    for (int j = 0; j < nsub && total < best_total; j++)
      total += sym_codes(x + j * sub_n, w + j * sub_n, sub_n, s[j], df, qmin, qmax, code_min, code_max, radius, &sc[j]);
    if (total < best_total) {
      best_total = total;
      best_d = d;
    }
  }
  out->d = best_d;
  const float df = kiln_fp16(best_d);
  for (int j = 0; j < nsub; j++) {
    const float *xs = x + j * sub_n, *ws = w + j * sub_n;
    sym_codes(xs, ws, sub_n, s[j], df, qmin, qmax, code_min, code_max, radius, &sc[j]);
    out->sc[j] = sc[j];
    sym_err(xs, ws, sub_n, df * static_cast<float>(sc[j]), qmin, qmax, out->q + j * sub_n);
  }
}
