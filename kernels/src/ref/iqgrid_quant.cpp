// Quantizers of the lattice ("grid") IQ types: IQ3_XXS, IQ3_S, IQ2_XXS,
// IQ2_XS and IQ2_S. Each stores, per super-block of 256 values, a binary16 d,
// per sub-block (16 or 32 values) a 4-bit code ls, per group of D values
// (D = 4 or 8) the index of a lattice point of unsigned coordinates, and the
// signs: value = d * c * (2 ls + 1) * coordinate * sign, c a power of two.
// IQ3_XXS and the IQ2_XXS/XS types keep 7 sign bits per 8 values, the eighth
// making the count of minus signs even.
//
// The search, per super-block (weights.h gives each value's error weight):
//  1. signs: each value's own; where a type stores only even counts of minus
//     signs, the value that costs least to flip (smallest w |x|) is flipped,
//     so the lattice must match -|x| there;
//  2. per sub-block, a float scale: candidate scales spread around the one
//     that puts the largest magnitude on the largest coordinate; at each, every
//     group takes its best lattice point (below), the weighted least-squares
//     scale of those points is fitted, and the candidate that removes the most
//     weighted error wins, then is polished by re-choosing points at its own
//     fitted scale while that helps;
//  3. the scales as stored: d from the largest sub-block scale at the top code
//     (or one or two codes below), each sub-block trying the codes next to its
//     rounded one with points re-chosen at the stored scale; the d with the
//     least total error of the values exactly as dequantized is kept.
//
// Best lattice point of a group: each coordinate rounded to the nearest level
// (the distinct coordinate values of the lattice) gives a key; when the key is
// a lattice point it is the best one (the error is a sum over coordinates).
// Otherwise the K lattice points nearest to the key's point, found once per
// type when first used, are each scored on the weighted error.
#include <math.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "half.h"
#include "iq_tables.h"
#include "iquants.h"
#include "weights.h"

namespace {

const int MAX_D = 8;

struct Lattice {
  int dim = 0;
  int npoints = 0;
  int nlevels = 0;
  int knear = 0; // candidates kept for a key off the lattice: 8 in 4-D, 16 in 8-D
  float levels[16] = {0};
  float mids[15] = {0};
  std::vector<uint8_t> coord;     // npoints * dim level indices
  std::vector<float> value;       // npoints * dim coordinates
  std::vector<int32_t> on_grid;   // key -> point index, or -1
  std::vector<uint16_t> near;     // key * knear -> nearest points (off-grid keys)

  // coordinate j of point i: mul * byte j (int8 when s8) + add
  template <typename G>
  Lattice(const G *grid, int n, int d, int mul = 1, int add = 0, bool s8 = false) : dim(d), npoints(n), knear(d == 8 ? 16 : 8) {
    auto coord_of = [&](int i, int j) {
      const int b = static_cast<int>((static_cast<uint64_t>(grid[i]) >> (8 * j)) & 0xff);
      return mul * (s8 ? static_cast<int8_t>(b) : b) + add;
    };
    // the distinct coordinate values
    std::vector<int> lv;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < d; j++) {
        const int c = coord_of(i, j);
        if (std::find(lv.begin(), lv.end(), c) == lv.end()) lv.push_back(c);
      }
    std::sort(lv.begin(), lv.end());
    nlevels = static_cast<int>(lv.size());
    for (int l = 0; l < nlevels; l++) levels[l] = static_cast<float>(lv[l]);
    for (int l = 0; l + 1 < nlevels; l++) mids[l] = 0.5f * (levels[l] + levels[l + 1]);
    coord.resize(static_cast<size_t>(n) * d);
    value.resize(static_cast<size_t>(n) * d);
    int nkeys = 1;
    for (int j = 0; j < d; j++) nkeys *= nlevels;
    on_grid.assign(nkeys, -1);
    for (int i = 0; i < n; i++) {
      int key = 0;
      for (int j = d - 1; j >= 0; j--) {
        const int c = coord_of(i, j);
        const int l = static_cast<int>(std::find(lv.begin(), lv.end(), c) - lv.begin());
        coord[static_cast<size_t>(i) * d + j] = static_cast<uint8_t>(l);
        value[static_cast<size_t>(i) * d + j] = static_cast<float>(c);
        key = key * nlevels + l;
      }
      on_grid[key] = i;
    }
    // K nearest points of every off-grid key (in coordinate space)
    near.assign(static_cast<size_t>(nkeys) * knear, 0);
    std::vector<std::pair<float, int>> dist(n);
    float pt[MAX_D];
    for (int key = 0; key < nkeys; key++) {
      if (on_grid[key] >= 0) continue;
      int k = key;
      for (int j = 0; j < d; j++, k /= nlevels) pt[j] = levels[k % nlevels];
      for (int i = 0; i < n; i++) {
        float s = 0;
        for (int j = 0; j < d; j++) {
          const float e = value[static_cast<size_t>(i) * d + j] - pt[j];
          s += e * e;
        }
        dist[i] = {s, i};
      }
      std::partial_sort(dist.begin(), dist.begin() + knear, dist.end());
      for (int c = 0; c < knear; c++) near[static_cast<size_t>(key) * knear + c] = static_cast<uint16_t>(dist[c].second);
    }
  }

  int level_of(float u) const {
    int l = 0;
    while (l + 1 < nlevels && u > mids[l]) l++;
    return l;
  }

  // Best point for targets t (weights w) at scale s; returns its index and adds
  // sum w t g and sum w g g of it to *tg, *gg.
  int best(const float *t, const float *w, float s, double *tg, double *gg) const {
    const float inv = 1.0f / s;
    int key = 0;
    for (int j = dim - 1; j >= 0; j--) key = key * nlevels + level_of(t[j] * inv);
    int pick = on_grid[key];
    if (pick < 0) {
      double best_e = INFINITY;
      const uint16_t *cand = &near[static_cast<size_t>(key) * knear];
      for (int c = 0; c < knear; c++) {
        const float *g = &value[static_cast<size_t>(cand[c]) * dim];
        double e = 0;
        for (int j = 0; j < dim; j++) {
          const double y = static_cast<double>(s) * g[j] - t[j];
          e += w[j] * y * y;
        }
        if (e < best_e) {
          best_e = e;
          pick = cand[c];
        }
      }
    }
    const float *g = &value[static_cast<size_t>(pick) * dim];
    double a = 0, b = 0;
    for (int j = 0; j < dim; j++) {
      a += static_cast<double>(w[j]) * t[j] * g[j];
      b += static_cast<double>(w[j]) * g[j] * g[j];
    }
    *tg += a;
    *gg += b;
    return pick;
  }

  float max_level() const { return std::max(fabsf(levels[0]), fabsf(levels[nlevels - 1])); }
};

struct Format {
  const Lattice *lat;
  int sub;         // values per scale code (16 or 32)
  bool parity;     // 7-bit sign codes (even count of minus signs per 8)
  float c;         // value = d * c * (2 ls + 1) * coordinate
  kiln_weight_rule rule;
  int lmax = 15;                   // largest scale code
  const Lattice *alt = nullptr;    // IQ1: the lattice with the other delta (no sign bits then)
};

// Points of a sub-block's groups at scale s; returns the weighted LS fit scale
// in *fit and the error removed ((sum w t g)^2 / sum w g g).
double place(const Format &f, const float *t, const float *w, float s, uint16_t *idx, float *fit) {
  double tg = 0, gg = 0;
  const int D = f.lat->dim;
  for (int k = 0; k < f.sub / D; k++) {
    const int p = f.lat->best(t + D * k, w + D * k, s, &tg, &gg);
    if (idx != nullptr) idx[k] = static_cast<uint16_t>(p);
  }
  *fit = gg > 0 && tg > 0 ? static_cast<float>(tg / gg) : 0.0f;
  return gg > 0 && tg > 0 ? tg * tg / gg : 0.0;
}

// Weighted error of a sub-block at scale s with its best points (written to idx).
double err_at(const Format &f, const float *t, const float *w, float s, uint16_t *idx) {
  const int D = f.lat->dim;
  double e = 0;
  for (int k = 0; k < f.sub / D; k++) {
    double tg = 0, gg = 0;
    const int p = s > 0 ? f.lat->best(t + D * k, w + D * k, s, &tg, &gg) : 0;
    if (idx != nullptr) idx[k] = static_cast<uint16_t>(p);
    const float *g = &f.lat->value[static_cast<size_t>(p) * D];
    for (int j = 0; j < D; j++) {
      const double y = static_cast<double>(s) * g[j] - t[D * k + j];
      e += w[D * k + j] * y * y;
    }
  }
  return e;
}

// Step 2: the float scale of a sub-block (0 when it is all zero).
float fit_sub(const Format &f, const float *t, const float *w, const float *x) {
  float amax = 0;
  for (int j = 0; j < f.sub; j++) amax = std::max(amax, fabsf(x[j]));
  if (!(amax > 1e-15f) || !isfinite(amax)) return 0.0f;
  const float s0 = amax / f.lat->max_level();
  double best_gain = 0;
  float best = 0;
  for (int k = -3; k <= 5; k++) {
    float fit;
    const double g = place(f, t, w, s0 * (1.0f + 0.1f * static_cast<float>(k)), nullptr, &fit);
    if (g > best_gain) {
      best_gain = g;
      best = fit;
    }
  }
  for (int it = 0; it < 3 && best > 0; it++) {
    float fit;
    const double g = place(f, t, w, best, nullptr, &fit);
    if (!(g > best_gain * (1 + 1e-9))) break;
    best_gain = g;
    best = fit;
  }
  return best;
}

struct Chosen {
  uint16_t d;
  uint8_t ls[16];
  uint16_t idx[64];  // one per group
  uint8_t signs[32]; // one byte per 8 values (bit j: value j negative)
  uint8_t alt[16];   // IQ1: the sub-block uses the other delta
};

// Steps 1-3 for one super-block of 256 values.
void quantize_super(const Format &f, const float *x, const float *imp, Chosen *out) {
  float w[KILN_QK_K], t[KILN_QK_K], s[16];
  kiln_block_weights(x, KILN_QK_K, imp, 2 * kiln_mean_square(x, KILN_QK_K), f.rule, w);
  memset(out, 0, sizeof *out);
  if (f.alt != nullptr) memcpy(t, x, sizeof t); // signed lattice: no sign bits
  for (int b = 0; b < KILN_QK_K / 8 && f.alt == nullptr; b++) {
    uint8_t bits = 0;
    int flip = 0;
    float cost = INFINITY;
    for (int j = 0; j < 8; j++) {
      const float v = x[8 * b + j];
      t[8 * b + j] = fabsf(v);
      if (v < 0) bits |= static_cast<uint8_t>(1u << j);
      if (w[8 * b + j] * fabsf(v) < cost) {
        cost = w[8 * b + j] * fabsf(v);
        flip = j;
      }
    }
    if (f.parity && (__builtin_popcount(bits) & 1)) {
      bits ^= static_cast<uint8_t>(1u << flip);
      t[8 * b + flip] = -t[8 * b + flip];
    }
    out->signs[b] = bits;
  }
  const int nsub = KILN_QK_K / f.sub;
  const int per = f.sub / f.lat->dim;
  float smax = 0;
  Format fs[16];
  for (int g = 0; g < nsub; g++) {
    fs[g] = f;
    s[g] = fit_sub(f, t + f.sub * g, w + f.sub * g, x + f.sub * g);
    if (f.alt != nullptr) { // the other delta, where it fits better
      Format o = f;
      o.lat = f.alt;
      const float so = fit_sub(o, t + f.sub * g, w + f.sub * g, x + f.sub * g);
      if (so > 0 && err_at(o, t + f.sub * g, w + f.sub * g, so, nullptr) < err_at(f, t + f.sub * g, w + f.sub * g, s[g], nullptr)) {
        fs[g] = o;
        s[g] = so;
        out->alt[g] = 1;
      }
    }
    smax = std::max(smax, s[g]);
  }
  if (smax == 0) return; // d = 0: every value is zero
  double best_total = INFINITY;
  for (int top = f.lmax; top >= f.lmax - 1; top--) {
    const uint16_t h = kiln_f32_to_f16(smax / (f.c * static_cast<float>(2 * top + 1)));
    const float d = kiln_fp16(h);
    if (!(d > 0) || !isfinite(d)) continue;
    double total = 0;
    uint8_t ls[16];
    for (int g = 0; g < nsub && total < best_total; g++) {
      int l0 = static_cast<int>(lrintf((s[g] / (d * f.c) - 1) / 2));
      l0 = std::min(f.lmax, std::max(0, l0));
      double ge = INFINITY;
      for (int l = std::max(0, l0 - 1); l <= std::min(f.lmax, l0 + 1); l++) {
        const double e = err_at(fs[g], t + f.sub * g, w + f.sub * g, d * f.c * static_cast<float>(2 * l + 1), nullptr);
        if (e < ge) {
          ge = e;
          ls[g] = static_cast<uint8_t>(l);
        }
      }
      total += ge;
    }
    if (total < best_total) {
      best_total = total;
      out->d = h;
      memcpy(out->ls, ls, sizeof ls);
    }
  }
  const float d = kiln_fp16(out->d);
  for (int g = 0; g < nsub; g++)
    err_at(fs[g], t + f.sub * g, w + f.sub * g, d * f.c * static_cast<float>(2 * out->ls[g] + 1), out->idx + per * g);
}

const Lattice &iq3xxs_lattice() {
  static const Lattice l(kiln_iq3xxs_grid, 256, 4);
  return l;
}
const Lattice &iq2xxs_lattice() {
  static const Lattice l(kiln_iq2xxs_grid, 256, 8);
  return l;
}
const Lattice &iq2xs_lattice() {
  static const Lattice l(kiln_iq2xs_grid, 512, 8);
  return l;
}
const Lattice &iq2s_lattice() {
  static const Lattice l(kiln_iq2s_grid, 1024, 8);
  return l;
}
// IQ1_S: coordinates 8 g + 1 (delta +1/8) or 8 g - 1 (delta -1/8), g in {-1, 0, 1}
const Lattice &iq1s_plus() {
  static const Lattice l(kiln_iq1s_grid, 2048, 8, 8, 1, true);
  return l;
}
const Lattice &iq1s_minus() {
  static const Lattice l(kiln_iq1s_grid, 2048, 8, 8, -1, true);
  return l;
}
const Lattice &iq3s_lattice() {
  static const Lattice l(kiln_iq3s_grid, 512, 4);
  return l;
}

template <typename Block, typename Pack>
void quantize_rows(const Format &f, const float *src, void *dst, int64_t n, const float *imp, Pack pack) {
  Block *b = static_cast<Block *>(dst);
  Chosen c;
  for (int64_t i = 0; i < n / KILN_QK_K; i++, src += KILN_QK_K) {
    quantize_super(f, src, imp != nullptr ? imp + i * KILN_QK_K : nullptr, &c);
    memset(&b[i], 0, sizeof b[i]);
    b[i].d = c.d;
    pack(c, b[i]);
  }
}

} // namespace

void kiln_quantize_row_iq3_xxs_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const Format F = {&iq3xxs_lattice(), 32, true, 0.25f, kiln_rule_for("IQ3_XXS", KILN_W_SIGMA)};
  quantize_rows<kiln_block_iq3_xxs>(F, src, dst, n, imp, [](const Chosen &c, kiln_block_iq3_xxs &b) {
    for (int k = 0; k < 64; k++) b.qs[k] = static_cast<uint8_t>(c.idx[k]);
    for (int g = 0; g < 8; g++) {
      uint32_t a = static_cast<uint32_t>(c.ls[g]) << 28;
      for (int l = 0; l < 4; l++) a |= static_cast<uint32_t>(c.signs[4 * g + l] & 127) << (7 * l);
      memcpy(b.qs + 64 + 4 * g, &a, 4);
    }
  });
}

void kiln_quantize_row_iq3_s_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const Format F = {&iq3s_lattice(), 32, false, 1.0f, kiln_rule_for("IQ3_S", KILN_W_SIGMA)};
  quantize_rows<kiln_block_iq3_s>(F, src, dst, n, imp, [](const Chosen &c, kiln_block_iq3_s &b) {
    for (int g = 0; g < 8; g++) {
      for (int k = 0; k < 8; k++) {
        const uint16_t p = c.idx[8 * g + k];
        b.qs[8 * g + k] = static_cast<uint8_t>(p & 0xff);
        b.qh[g] |= static_cast<uint8_t>((p >> 8) << k);
      }
      b.scales[g / 2] |= static_cast<uint8_t>(c.ls[g] << (4 * (g % 2)));
    }
    memcpy(b.signs, c.signs, 32);
  });
}

void kiln_quantize_row_iq2_xxs_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const Format F = {&iq2xxs_lattice(), 32, true, 0.125f, kiln_rule_for("IQ2_XXS", KILN_W_SIGMA)};
  quantize_rows<kiln_block_iq2_xxs>(F, src, dst, n, imp, [](const Chosen &c, kiln_block_iq2_xxs &b) {
    for (int g = 0; g < 8; g++) {
      uint32_t a[2] = {0, static_cast<uint32_t>(c.ls[g]) << 28};
      for (int l = 0; l < 4; l++) {
        a[0] |= static_cast<uint32_t>(c.idx[4 * g + l]) << (8 * l);
        a[1] |= static_cast<uint32_t>(c.signs[4 * g + l] & 127) << (7 * l);
      }
      memcpy(b.qs + 4 * g, a, 8);
    }
  });
}

void kiln_quantize_row_iq2_xs_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const Format F = {&iq2xs_lattice(), 16, true, 0.125f, kiln_rule_for("IQ2_XS", KILN_W_SIGMA)};
  quantize_rows<kiln_block_iq2_xs>(F, src, dst, n, imp, [](const Chosen &c, kiln_block_iq2_xs &b) {
    for (int k = 0; k < 32; k++) b.qs[k] = static_cast<uint16_t>(c.idx[k] | ((c.signs[k] & 127) << 9));
    for (int g = 0; g < 8; g++) b.scales[g] = static_cast<uint8_t>(c.ls[2 * g] | (c.ls[2 * g + 1] << 4));
  });
}

void kiln_quantize_row_iq2_s_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const Format F = {&iq2s_lattice(), 16, false, 0.125f, kiln_rule_for("IQ2_S", KILN_W_SIGMA)};
  quantize_rows<kiln_block_iq2_s>(F, src, dst, n, imp, [](const Chosen &c, kiln_block_iq2_s &b) {
    for (int k = 0; k < 32; k++) {
      b.qs[k] = static_cast<uint8_t>(c.idx[k] & 0xff);
      b.qh[k / 4] |= static_cast<uint8_t>((c.idx[k] >> 8) << (2 * (k % 4)));
      b.qs[32 + k] = c.signs[k];
    }
    for (int g = 0; g < 8; g++) b.scales[g] = static_cast<uint8_t>(c.ls[2 * g] | (c.ls[2 * g + 1] << 4));
  });
}

void kiln_quantize_row_iq1_s_w(const float *src, void *dst, int64_t n, const float *imp) {
  static const Format F = {&iq1s_plus(), 32, false, 0.125f, kiln_rule_for("IQ1_S", KILN_W_SIGMA), 7, &iq1s_minus()};
  quantize_rows<kiln_block_iq1_s>(F, src, dst, n, imp, [](const Chosen &c, kiln_block_iq1_s &b) {
    for (int g = 0; g < 8; g++) {
      uint16_t h = static_cast<uint16_t>((c.ls[g] << 12) | (c.alt[g] ? 0x8000 : 0));
      for (int l = 0; l < 4; l++) {
        b.qs[4 * g + l] = static_cast<uint8_t>(c.idx[4 * g + l] & 0xff);
        h = static_cast<uint16_t>(h | ((c.idx[4 * g + l] >> 8) << (3 * l)));
      }
      b.qh[g] = h;
    }
  });
}

void kiln_quantize_row_iq1_s_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq1_s_w(src, dst, n, nullptr); }
void kiln_quantize_row_iq2_xxs_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq2_xxs_w(src, dst, n, nullptr); }
void kiln_quantize_row_iq2_xs_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq2_xs_w(src, dst, n, nullptr); }
void kiln_quantize_row_iq2_s_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq2_s_w(src, dst, n, nullptr); }
void kiln_quantize_row_iq3_xxs_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq3_xxs_w(src, dst, n, nullptr); }
void kiln_quantize_row_iq3_s_ref(const float *src, void *dst, int64_t n) { kiln_quantize_row_iq3_s_w(src, dst, n, nullptr); }
