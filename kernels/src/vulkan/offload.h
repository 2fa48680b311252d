// Layer offload of the llama forward pass onto the Vulkan device: the last
// layers of the model run there, recorded into one command buffer per batch.
// The hidden state crosses to the device before the first offloaded layer and
// back after the last; everything between stays in device memory, the KV
// cache (f16) included. forward.cpp calls only these four functions.
#pragma once
#include <stdint.h>

#include "../llama/forward.h"

struct kiln_vk_offload;

// Uploads layers [first, n_layer) of m to the chosen device through a staging
// buffer. Returns NULL with *error NULL when offload is not possible here (no
// loader or device, a model feature the device path lacks): the caller runs
// every layer on the CPU, and the reason is logged once. NULL with *error set
// when the device is there but the model does not fit (out of device memory).
kiln_vk_offload *kiln_vk_offload_new(const kiln_llama_model *m, int32_t first, const char **error);
void kiln_vk_offload_free(kiln_vk_offload *o);

// Runs the offloaded layers over x (n x n_embd, updated in place) for tokens at
// positions pos0..; rope_cs is the batch's (cos, sin) table as forward.cpp builds it.
int kiln_vk_offload_eval(kiln_vk_offload *o, float *x, int32_t n, int32_t pos0, const float *rope_cs, const char **error);

// Context shift of the offloaded layers' caches: positions [keep + discard, n_past) move down to keep, their keys
// re-rotated with cs (the (cos, sin) table of position -discard, as forward.cpp builds it).
int kiln_vk_offload_shift(kiln_vk_offload *o, int32_t keep, int32_t discard, int32_t n_past, const float *cs,
                          const char **error);

// Device bytes the offload holds (weights, KV cache, activations).
uint64_t kiln_vk_offload_bytes(const kiln_vk_offload *o);
