// Weight descriptors from JS: (offset, type, ne0, ne1) quadruples of doubles
// into one mapped file buffer (offset -1: absent), checked against the buffer
// before a forward pass may touch them. Shared by the decoder and encoder glue.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "napi_util.h"
#include "llama/forward.h" // kiln_weight

// Fills *w from the quadruple at q, or throws and returns false.
bool kiln_read_weight(napi_env env, const double *q, const uint8_t *base, size_t size, kiln_weight *w);

// The descriptor array (a Float64Array of `quads` quadruples) and the mapped file's ArrayBuffer, or throws and returns false.
bool kiln_read_weight_args(napi_env env, napi_value weights, napi_value buffer, size_t quads, const double **desc,
                           const uint8_t **base, size_t *size);
