/*
 * Runs llama.cpp's own quantizer (llama_model_quantize in the libllama that
 * node-llama-cpp ships prebuilt) on a GGUF file, for bench/quantize.ts. That
 * package ships no llama-quantize binary, only the library; this is the same
 * call the binary makes, with its default parameters and a file type.
 *
 *   llama-quantize IN OUT FTYPE NTHREAD   -> prints "seconds S"
 *
 * Built by bench/quantize.ts against llama.h from the llama.cpp source that
 * node-llama-cpp ships as a git bundle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "llama.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s IN OUT FTYPE NTHREAD\n", argv[0]);
    return 2;
  }
  llama_backend_init();
  struct llama_model_quantize_params p = llama_model_quantize_default_params();
  p.ftype = (enum llama_ftype)atoi(argv[3]);
  p.nthread = atoi(argv[4]);
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
