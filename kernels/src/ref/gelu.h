// GELU as ggml's CPU backend computes it for f32 tensors, so that models
// with GELU (bert, gemma) agree with llama.cpp: the tanh form, evaluated
// through a binary16 table (the input rounded to f16, the result stored as
// f16), with inputs at or below -10 giving 0 and at or above 10 passing through.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The tanh-form GELU in f32 arithmetic: 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))).
float kiln_gelu_exact(float x);

// GELU of one value the way ggml's f32 op does (table lookup through binary16).
float kiln_gelu(float x);

// y[i] = kiln_gelu(x[i]) for i < n; y may alias x.
void kiln_gelu_rows(const float *x, float *y, int64_t n);

#ifdef __cplusplus
}
#endif
