// Shape and type checks of the weights a forward pass is handed, shared by
// the decoder (llama/forward.cpp) and the encoder (bert/encoder.cpp): each
// sets *error and returns false on a tensor the model cannot use.
#pragma once
#include <stdint.h>

#include "llama/forward.h" // kiln_weight
#include "quants.h"

namespace kiln_weights {

// A matrix of rows of ne0 values (ne1 rows, or any when ne1 <= 0) of a type kiln can read.
inline bool check_weight(const kiln_weight &w, int64_t ne0, int64_t ne1, bool required, const char **error) {
  if (w.data == nullptr) {
    if (required) *error = "a required tensor is missing";
    return !required;
  }
  if (w.ne0 != ne0 || (ne1 > 0 && w.ne1 != ne1)) {
    *error = "a tensor has the wrong shape for the model's hyperparameters";
    return false;
  }
  if (kiln_type_traits_of(w.type) == nullptr) {
    *error = "a tensor has an unsupported type";
    return false;
  }
  return true;
}

// A norm or bias: F32, n values.
inline bool check_f32(const kiln_weight &w, int64_t n, bool required, const char **error) {
  if (w.data == nullptr) {
    if (required) *error = "a required norm or bias tensor is missing";
    return !required;
  }
  if (w.type != KILN_TYPE_F32 || w.ne0 * (w.ne1 > 0 ? w.ne1 : 1) != n) {
    *error = "a norm or bias tensor is not F32 of the expected length";
    return false;
  }
  return true;
}

} // namespace kiln_weights
