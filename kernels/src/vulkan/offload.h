// Layer offload of the llama forward pass onto the Vulkan device: the last
// layers of the model run there, recorded into one command buffer per batch.
// The hidden state crosses to the device before the first offloaded layer and
// back after the last; everything between stays in device memory, the KV
// cache (f16) included. With the output projection on the device too, only the
// logits asked for come back. forward.cpp calls only these functions.
#pragma once
#include <stdint.h>

#include "../llama/forward.h"

struct kiln_vk_offload;

// Uploads layers [first, n_layer) of m to the chosen device through a staging
// buffer, and the final norm and output projection when m->p.gpu_output asks
// (they stay on the CPU, logged, when the device cannot take them). Returns
// NULL with *error NULL when offload is not possible here (no loader or
// device, a model feature the device path lacks): the caller runs every layer
// on the CPU, and the reason is logged once. NULL with *error set when the
// device is there but the model does not fit (out of device memory).
kiln_vk_offload *kiln_vk_offload_new(const kiln_llama_model *m, int32_t first, const char **error);
void kiln_vk_offload_free(kiln_vk_offload *o);

// Runs the offloaded layers over x (n x n_embd) for tokens at positions
// pos[t] of sequences seq[t] (each sequence's cache is its own: n_seq regions
// of n_ctx rows per layer); rope_cs / rope_cs_swa are the batch's (cos, sin) tables as
// forward.cpp builds them (rope_cs_swa for the sliding-window layers, NULL
// when the model has none). When the output projection is on the device and
// logits are asked for (out[0..n_out) indices into the batch), writes the raw
// logits (before any final soft-cap) and returns 1, x left as it was;
// otherwise copies the last layer's output back into x and returns 0. -1 on
// error.
int kiln_vk_offload_eval(kiln_vk_offload *o, float *x, int32_t n, const int32_t *pos, const int32_t *seq,
                         const float *rope_cs, const float *rope_cs_swa, const int32_t *out, int32_t n_out, float *logits,
                         const char **error);

// After an eval that returned 1: the final normed hidden states of its n tokens (n x n_embd) into dst.
int kiln_vk_offload_hidden(kiln_vk_offload *o, float *dst, int32_t n, const char **error);

// Context shift of sequence seq in the offloaded layers' caches: positions [keep + discard, n_past) move down to keep, their keys
// re-rotated with cs (cs_swa on the sliding-window layers: the (cos, sin) tables of position -discard, as
// forward.cpp builds them).
int kiln_vk_offload_shift(kiln_vk_offload *o, int32_t seq, int32_t keep, int32_t discard, int32_t n_past,
                          const float *cs, const float *cs_swa, const char **error);

// Device bytes the offload holds (weights, KV cache, activations).
uint64_t kiln_vk_offload_bytes(const kiln_vk_offload *o);
// Whether the output projection runs on the device.
int kiln_vk_offload_has_output(const kiln_vk_offload *o);
