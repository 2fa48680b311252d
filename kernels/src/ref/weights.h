// Per-value weights of the quantizers' error (fit.h, kfit.h).
//
// The squared error of a weight matrix's values is not what a model loses:
// an error on a large value, or on a column whose activations are large,
// moves the outputs more. The row quantizers therefore minimize
// sum w_i (y_i - x_i)^2 with
//   - no importance matrix: w_i = a function of x_i alone (the rule), chosen per
//     type by measuring KL divergence against llama.cpp's quantizer (see
//     bench/quant-quality.ts);
//   - with one: w_i = imp_i * sqrt(sigma2 + x_i^2), imp_i the mean squared
//     activation of column i over the calibration text and sigma2 the mean
//     square of the values around it.
#pragma once
#include <stdint.h>

enum kiln_weight_rule {
  KILN_W_ONE = 0,   // plain squared error
  KILN_W_ABS = 1,   // |x|
  KILN_W_SQ = 2,    // x^2
  KILN_W_AVABS = 3, // sqrt(sigma2) + |x|
  KILN_W_SIGMA = 4, // sqrt(sigma2 + x^2)
};

// w[0..n) for the values x[0..n); imp (nullable) the importance of each value's
// column. Never all zero: a block whose weights would all vanish gets unit
// weights, and non-finite weights count as zero.
void kiln_block_weights(const float *x, int n, const float *imp, float sigma2, kiln_weight_rule rule, float *w);

// Mean of x^2 over n values.
float kiln_mean_square(const float *x, int64_t n);

// With an importance matrix the weight is imp_i * sqrt(sigma2 + x_i^2), unless
// KILN_QUANT_IMP=1 (imp_i alone) or 2 (imp_i times the type's rule): another
// measuring knob, read once.
//
// The rule for a type: `def`, unless KILN_QUANT_RULE_<TYPE> (e.g.
// KILN_QUANT_RULE_Q4_K=3) names another — a knob for measuring the rules
// against each other (bench/quant-quality.ts), read once per type.
kiln_weight_rule kiln_rule_for(const char *type, kiln_weight_rule def);
