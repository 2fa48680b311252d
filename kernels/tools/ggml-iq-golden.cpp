// Dev-only: blocks of the IQ / TQ / MXFP4 types made by llama.cpp's own
// quantizer (ggml_quantize_chunk in the libggml-base.so that the
// node-llama-cpp devDependency ships, loaded with dlopen), written as JSON for
// kernels/iq.test.ts. The IQ2/IQ1 quantizers need an importance matrix; a
// fixed positive per-column one stands in for a real imatrix (it only steers
// the search, the blocks are ordinary blocks of the format).
//
//   g++ -O2 -std=c++17 -o /tmp/ggml-iq-golden kernels/tools/ggml-iq-golden.cpp -ldl
//   /tmp/ggml-iq-golden kernels/testdata/ggml-iq-golden.json
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <random>
#include <vector>

static const char *LIB = "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";

typedef size_t (*chunk_fn)(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);
typedef size_t (*row_size_fn)(int type, int64_t n);

static void b64(FILE *f, const uint8_t *p, size_t n) {
  static const char *A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    fputc(A[v >> 18], f);
    fputc(A[(v >> 12) & 63], f);
    fputc(i + 1 < n ? A[(v >> 6) & 63] : '=', f);
    fputc(i + 2 < n ? A[v & 63] : '=', f);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return fprintf(stderr, "usage: ggml-iq-golden OUT.json\n"), 2;
  void *lib = dlopen(getenv("GGML_BASE_LIB") ? getenv("GGML_BASE_LIB") : LIB, RTLD_NOW);
  if (!lib) return printf("%s\n", dlerror()), 1;
  chunk_fn chunk = (chunk_fn)dlsym(lib, "ggml_quantize_chunk");
  row_size_fn row_size = (row_size_fn)dlsym(lib, "ggml_row_size");
  if (!chunk || !row_size) return printf("missing symbols\n"), 1;
  struct T { int id; const char *name; } types[] = {
      {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"}, {20, "IQ4_NL"}, {21, "IQ3_S"},
      {22, "IQ2_S"},   {23, "IQ4_XS"}, {29, "IQ1_M"},   {34, "TQ1_0"}, {35, "TQ2_0"}, {39, "MXFP4"}};
  const int64_t rows = 8, cols = 1024;
  std::mt19937 rng(4321);
  std::normal_distribution<float> gauss(0, 1);
  std::uniform_real_distribution<float> uni(0, 1);
  // rows of different shapes: Gaussian, heavy-tailed with outliers, small
  // magnitudes (scales near binary16's subnormals are not needed: 0.02 sigma)
  std::vector<float> x(rows * cols), imatrix(cols);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      float v = gauss(rng) * 0.02f;
      if (r % 3 == 1 && rng() % 50 == 0) v *= 8;
      if (r % 3 == 2) v *= 0.05f + uni(rng);
      x[r * cols + c] = v;
    }
  for (int64_t c = 0; c < cols; c++) imatrix[c] = 0.25f + uni(rng);
  FILE *f = fopen(argv[1], "w");
  fprintf(f, "{\n  \"source\": \"llama.cpp libggml-base.so ggml_quantize_chunk (with a fixed imatrix), via kernels/tools/ggml-iq-golden.cpp\",\n");
  fprintf(f, "  \"rows\": %lld,\n  \"cols\": %lld,\n  \"f32\": \"", (long long)rows, (long long)cols);
  b64(f, (const uint8_t *)x.data(), x.size() * 4);
  fprintf(f, "\",\n  \"types\": {");
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const size_t rb = row_size(types[i].id, cols);
    std::vector<uint8_t> q(rb * rows);
    const size_t got = chunk(types[i].id, x.data(), q.data(), 0, rows, cols, imatrix.data());
    if (got != q.size()) return printf("%s: %zu bytes, %zu expected\n", types[i].name, got, q.size()), 1;
    fprintf(f, "%s\n    \"%s\": \"", i ? "," : "", types[i].name);
    b64(f, q.data(), q.size());
    fprintf(f, "\"");
  }
  fprintf(f, "\n  }\n}\n");
  fclose(f);
  return 0;
}
