// Two-level (super-block) searches of the K formats.
//
// Algorithm, the same shape for every K format:
//  1. each sub-block gets its own float (scale, min) or signed scale from the
//     least-squares searches in fit.h (squared error weighted by w, one
//     weight per value of the super-block: weights.h);
//  2. the super-block scale(s) put the largest sub-block scale (and min) on the
//     top code, rounded to binary16 as stored;
//  3. each sub-block then tries the integer scale/min codes within `radius` of
//     its rounded ones, re-rounding its values for each, and keeps the pair
//     with the least weighted squared error of the values exactly as dequantized.
// Step 3 matters most at low bit widths (Q2_K, Q3_K), where rounding the
// sub-block scale to 4 or 6 bits can undo most of step 1.
#pragma once
#include <stdint.h>

struct kiln_affine_super {
  uint16_t d, dmin;
  uint8_t sc[16], mn[16]; // codes in [0, code_max]
  uint8_t q[256];         // codes in [0, qmax]
};

// value = fp16(d) * sc * q - fp16(dmin) * mn
// tries > 0: step 2 also tries the largest scale on each of the `tries`
// codes below the top (and the min on the code below its top), keeping the
// super-block scales with the least total error.
void kiln_quant_affine_super(const float *x, const float *w, int nsub, int sub_n, int qmax, int code_max, int radius, int tries,
                             kiln_affine_super *out);

struct kiln_sym_super {
  uint16_t d;
  int sc[16]; // codes in [code_min, code_max]
  int q[256]; // codes in [qmin, qmax]
};

// value = fp16(d) * sc * q
// tries > 0: the largest scale also tries the `tries` codes inside the
// negative end and tries + 1 codes at the positive end.
void kiln_quant_sym_super(const float *x, const float *w, int nsub, int sub_n, int qmin, int qmax, int code_min, int code_max,
                          int radius, int tries, kiln_sym_super *out);
