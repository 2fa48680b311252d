/*
 * Runs llama.cpp's own quantizer (llama_model_quantize in the libllama that
 * node-llama-cpp ships prebuilt) on a GGUF file, for the benchmarks
 * (bench/quantize.ts, bench/quant-quality.ts) and the tests. That package
 * ships no llama-quantize binary, only the library; this is the same call the
 * binary makes, with its default parameters and a file type.
 *
 *   llama-quantize IN OUT FTYPE NTHREAD [IMATRIX | unit-imatrix]   -> prints "seconds S"
 *
 * IMATRIX, when given, is the importance data already divided by the counts
 * (what the binary hands the library after reading an imatrix GGUF), in a
 * plain layout written by bench/llama-quantizer.ts: per entry a u32 name
 * length, the name, a u32 value count and the f32 values.
 *
 * unit-imatrix passes an importance matrix of ones for every matrix of IN
 * (each input column equally important): the IQ2/IQ1 file types refuse to run
 * without an imatrix, and this lets llama.cpp make them from a model that has
 * no calibration data. The blocks it writes are ordinary blocks of each type.
 *
 * Built against llama.h and gguf.h from the llama.cpp source that
 * node-llama-cpp ships as a git bundle (link libllama and libggml-base).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "gguf.h"
#include "llama.h"

/* One entry of ones per tensor of two or more dimensions, NULL-terminated. */
static struct llama_model_imatrix_data *unit_imatrix(const char *path) {
  struct ggml_context *meta = NULL;
  struct gguf_init_params ip = {true, &meta};
  struct gguf_context *g = gguf_init_from_file(path, ip);
  if (g == NULL) return NULL;
  const int64_t n = gguf_get_n_tensors(g);
  struct llama_model_imatrix_data *out = calloc((size_t)n + 1, sizeof *out);
  int k = 0;
  for (int64_t i = 0; i < n; i++) {
    const struct ggml_tensor *t = ggml_get_tensor(meta, gguf_get_tensor_name(g, i));
    if (t == NULL || ggml_n_dims(t) < 2) continue;
    const size_t size = (size_t)(t->ne[0] * t->ne[2]);
    float *ones = malloc(size * sizeof *ones);
    for (size_t j = 0; j < size; j++) ones[j] = 1.0f;
    out[k].name = strdup(t->name);
    out[k].data = ones;
    out[k].size = size;
    k++;
  }
  return out; /* freed at exit */
}

static struct llama_model_imatrix_data *read_imatrix(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t n = 0, cap = 16;
  struct llama_model_imatrix_data *out = calloc(cap, sizeof *out);
  uint32_t len;
  while (fread(&len, 4, 1, f) == 1) {
    char *name = malloc(len + 1);
    uint32_t count;
    if (fread(name, 1, len, f) != len || fread(&count, 4, 1, f) != 1) exit(3);
    name[len] = 0;
    float *data = malloc((size_t)count * 4 + 4);
    if (fread(data, 4, count, f) != count) exit(3);
    if (n + 1 >= cap) out = realloc(out, (cap *= 2) * sizeof *out);
    out[n].name = name;
    out[n].data = data;
    out[n].size = count;
    n++;
  }
  out[n].name = NULL;
  fclose(f);
  return out;
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s IN OUT FTYPE NTHREAD [IMATRIX]\n", argv[0]);
    return 2;
  }
  llama_backend_init();
  struct llama_model_quantize_params p = llama_model_quantize_default_params();
  p.ftype = (enum llama_ftype)atoi(argv[3]);
  p.nthread = atoi(argv[4]);
  if (argc == 6) {
    p.imatrix = strcmp(argv[5], "unit-imatrix") == 0 ? unit_imatrix(argv[1]) : read_imatrix(argv[5]);
    if (!p.imatrix) {
      fprintf(stderr, "cannot read %s\n", strcmp(argv[5], "unit-imatrix") == 0 ? argv[1] : argv[5]);
      return 2;
    }
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  const uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
  clock_gettime(CLOCK_MONOTONIC, &b);
  if (rc != 0) {
    fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
    return 1;
  }
  printf("seconds %.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9);
  return 0;
}
