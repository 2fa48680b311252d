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

// Error of one affine sub-block for given codes, values rounded as stored.
double affine_err(const float *x, int n, float dl, float ml, int qmax, uint8_t *q_out) {
  const float inv = dl > 0 ? 1.0f / dl : 0.0f;
  double err = 0;
  for (int i = 0; i < n; i++) {
    const int q = dl > 0 ? kiln_clamp(kiln_round((x[i] + ml) * inv), 0, qmax) : 0;
    if (q_out) q_out[i] = static_cast<uint8_t>(q);
    const double e = static_cast<double>(dl * static_cast<float>(q) - ml) - x[i];
    err += e * e;
  }
  return err;
}

double sym_err(const float *x, int n, float dl, int qmin, int qmax, int *q_out) {
  const float inv = dl != 0 ? 1.0f / dl : 0.0f;
  double err = 0;
  for (int i = 0; i < n; i++) {
    const int q = dl != 0 ? kiln_clamp(kiln_round(x[i] * inv), qmin, qmax) : 0;
    if (q_out) q_out[i] = q;
    const double e = static_cast<double>(dl * static_cast<float>(q)) - x[i];
    err += e * e;
  }
  return err;
}

} // namespace

void kiln_quant_affine_super(const float *x, int nsub, int sub_n, int qmax, int code_max, int radius,
                             kiln_affine_super *out) {
  float a[16], b[16];
  float amax = 0, bmax = 0;
  for (int j = 0; j < nsub; j++) {
    float c;
    kiln_fit_affine(x + j * sub_n, sub_n, qmax, true, &a[j], &c);
    b[j] = -c;
    if (a[j] > amax) amax = a[j];
    if (b[j] > bmax) bmax = b[j];
  }
  out->d = kiln_f32_to_f16(clamp_scale(amax / static_cast<float>(code_max)));
  out->dmin = kiln_f32_to_f16(clamp_scale(bmax / static_cast<float>(code_max)));
  const float df = kiln_fp16(out->d), dminf = kiln_fp16(out->dmin);
  for (int j = 0; j < nsub; j++) {
    const float *xs = x + j * sub_n;
    const int s0 = df > 0 ? kiln_clamp(kiln_round(a[j] / df), 0, code_max) : 0;
    const int m0 = dminf > 0 ? kiln_clamp(kiln_round(b[j] / dminf), 0, code_max) : 0;
    int best_s = s0, best_m = m0;
    double best_err = INFINITY;
    for (int s = s0 - radius; s <= s0 + radius; s++) {
      if (s < 0 || s > code_max) continue;
      for (int m = m0 - radius; m <= m0 + radius; m++) {
        if (m < 0 || m > code_max) continue;
        const double err = affine_err(xs, sub_n, df * static_cast<float>(s), dminf * static_cast<float>(m), qmax, nullptr);
        if (err < best_err) {
          best_err = err;
          best_s = s;
          best_m = m;
        }
      }
    }
    out->sc[j] = static_cast<uint8_t>(best_s);
    out->mn[j] = static_cast<uint8_t>(best_m);
    affine_err(xs, sub_n, df * static_cast<float>(best_s), dminf * static_cast<float>(best_m), qmax, out->q + j * sub_n);
  }
}

void kiln_quant_sym_super(const float *x, int nsub, int sub_n, int qmin, int qmax, int code_min, int code_max,
                          int radius, kiln_sym_super *out) {
  float s[16];
  float smax = 0, sm = 0;
  for (int j = 0; j < nsub; j++) {
    s[j] = kiln_fit_symmetric(x + j * sub_n, sub_n, qmin, qmax);
    if (fabsf(s[j]) > smax) {
      smax = fabsf(s[j]);
      sm = s[j];
    }
  }
  // The largest sub-block scale takes the longer (negative) end of the code range.
  out->d = kiln_f32_to_f16(clamp_scale(sm / static_cast<float>(code_min)));
  const float df = kiln_fp16(out->d);
  for (int j = 0; j < nsub; j++) {
    const float *xs = x + j * sub_n;
    const int l0 = df != 0 ? kiln_clamp(kiln_round(s[j] / df), code_min, code_max) : 0;
    int best_l = l0;
    double best_err = INFINITY;
    for (int l = l0 - radius; l <= l0 + radius; l++) {
      if (l < code_min || l > code_max) continue;
      const double err = sym_err(xs, sub_n, df * static_cast<float>(l), qmin, qmax, nullptr);
      if (err < best_err) {
        best_err = err;
        best_l = l;
      }
    }
    out->sc[j] = best_l;
    sym_err(xs, sub_n, df * static_cast<float>(best_l), qmin, qmax, out->q + j * sub_n);
  }
}
