// Scale searches shared by the reference quantizers.
//
// Every quantizer here minimizes the weighted squared error of the dequantized
// values, sum w_i (y_i - x_i)^2: the weights come from the row quantizers
// (weights.h: a function of the values themselves, times the importance of
// each column when an importance matrix is given); w == nullptr means unit
// weights, and then n must be at most 32. The searches are deterministic: fixed candidate grids, fixed
// iteration counts, ties broken by the first candidate.
#pragma once
#include <stdint.h>

// Symmetric fit: the scale s minimizing sum (s * q_i - x_i)^2 where
// q_i = clamp(round(x_i / s), qmin, qmax), qmin < 0 < qmax.
//
// A grid of candidate scales maps the largest-magnitude value m to codes
// between 0.55 and 1 (+ half a step) of either end of the range (the negative
// end is usually longer, so a negative s can buy one extra level); each
// candidate's codes get a least-squares rescale s = sum(q x) / sum(q q), and
// the best candidate is then polished by a few rounds of alternately
// re-rounding the codes and re-fitting the scale (each round cannot increase
// the error). Returns 0 for an all-zero (or non-finite) input.
float kiln_fit_symmetric(const float *x, const float *w, int n, int qmin, int qmax);

// Affine fit: x_i ~ a * q_i + c with q_i in [0, qmax], a >= 0; when
// nonpos_offset, c <= 0 (the K formats store the offset as an unsigned min
// that is subtracted). Candidate steps stretch [min, max] over qmax - 1.5 ..
// qmax + 1.5 levels; each candidate's codes get the least-squares (a, c)
// (constrained when needed), then the best is polished like the symmetric fit.
void kiln_fit_affine(const float *x, const float *w, int n, int qmax, bool nonpos_offset, float *a, float *c);

// Weighted squared error of the codes round(x / s), clamped, dequantized as s * q.
double kiln_err_symmetric(const float *x, const float *w, int n, float s, int qmin, int qmax);
