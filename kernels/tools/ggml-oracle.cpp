// Dev-only cross-check of kiln's reference kernels against llama.cpp's own
// binaries (the libggml-base.so that the node-llama-cpp devDependency ships),
// loaded with dlopen and called through their exported C functions. Nothing of
// ggml is compiled into kiln; this tool only measures and compares.
//
//   g++ -O2 -std=c++17 -ffp-contract=off -Ikernels/src -o /tmp/ggml-oracle \
//       kernels/tools/ggml-oracle.cpp kernels/src/ref/*.cpp -ldl
//   /tmp/ggml-oracle [n_values]             # bit-exactness + error table
//   /tmp/ggml-oracle --golden out.json      # regenerate kernels/testdata/ggml-golden.json
//
// Checks: (1) kiln dequantizes ggml-quantized data, kiln-quantized data and
// random bytes exactly as ggml does; (2) the normalized squared error of kiln's
// reference quantizers vs ggml's quantize_row_*_ref on four distributions;
// (3) binary16/bfloat16 conversions over all 2^32 float bit patterns.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdint.h>
#include <random>
#include <vector>
#include "quants.h"
#include "ref/half.h"

typedef void (*qfn)(const float *, void *, int64_t);
typedef void (*dqfn)(const void *, float *, int64_t);
void *lib;
template <class T> T sym(const char *n) { void *p = dlsym(lib, n); if (!p) { printf("missing %s\n", n); exit(1);} return (T)p; }

double nmse(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) { double e = (double)a[i] - b[i]; num += e * e; den += (double)a[i] * a[i]; }
  return num / den;
}

static const char *LIB = "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";

static void b64(FILE *f, const uint8_t *p, size_t n) {
  static const char *A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    fputc(A[v >> 18], f); fputc(A[(v >> 12) & 63], f);
    fputc(i + 1 < n ? A[(v >> 6) & 63] : '=', f); fputc(i + 2 < n ? A[v & 63] : '=', f);
  }
}

int main(int argc, char **argv) {
  lib = dlopen(getenv("GGML_BASE_LIB") ? getenv("GGML_BASE_LIB") : LIB, RTLD_NOW);
  if (!lib) { printf("%s\n", dlerror()); return 1; }
  const bool golden = argc > 2 && strcmp(argv[1], "--golden") == 0;
  struct T { int type; const char *q; const char *dq; } types[] = {
    {2, "quantize_row_q4_0_ref", "dequantize_row_q4_0"}, {3, "quantize_row_q4_1_ref", "dequantize_row_q4_1"},
    {6, "quantize_row_q5_0_ref", "dequantize_row_q5_0"}, {7, "quantize_row_q5_1_ref", "dequantize_row_q5_1"},
    {8, "quantize_row_q8_0_ref", "dequantize_row_q8_0"},
    {10, "quantize_row_q2_K_ref", "dequantize_row_q2_K"}, {11, "quantize_row_q3_K_ref", "dequantize_row_q3_K"},
    {12, "quantize_row_q4_K_ref", "dequantize_row_q4_K"}, {13, "quantize_row_q5_K_ref", "dequantize_row_q5_K"},
    {14, "quantize_row_q6_K_ref", "dequantize_row_q6_K"}, {15, "quantize_row_q8_K_ref", "dequantize_row_q8_K"},
  };
  const int64_t N = golden ? 512 : argc > 1 ? atoll(argv[1]) : 256 * 4096;
  std::mt19937 rng(1234);
  std::normal_distribution<float> gauss(0, 1);
  std::exponential_distribution<float> expo(1);
  std::uniform_real_distribution<float> uni(-1, 1);
  const char *dist_names[] = {"gauss", "laplace", "outliers", "uniform"};
  std::vector<std::vector<float>> dists(4, std::vector<float>(N));
  for (int64_t i = 0; i < N; i++) {
    dists[0][i] = gauss(rng) * 0.02f;
    dists[1][i] = (uni(rng) < 0 ? -1 : 1) * expo(rng) * 0.02f;
    dists[2][i] = gauss(rng) * 0.02f * ((rng() % 100) == 0 ? 10.f : 1.f);
    dists[3][i] = uni(rng);
  }
  int fails = 0;
  if (golden) {
    // One deterministic N(0, 0.02^2) row of 512 values per type, quantized and
    // dequantized by ggml: bytes and float32 results, base64.
    FILE *f = fopen(argv[2], "w");
    fprintf(f, "{\n  \"source\": \"llama.cpp libggml-base.so quantize_row_*_ref + dequantize_row_*, via kernels/tools/ggml-oracle.cpp\",\n  \"n\": %lld,\n  \"types\": {", (long long)N);
    bool first = true;
    for (auto &t : types) {
      const kiln_type_traits *tr = kiln_type_traits_of(t.type);
      std::vector<uint8_t> q(kiln_row_size(t.type, N)); std::vector<float> y(N);
      sym<qfn>(t.q)(dists[0].data(), q.data(), N); sym<dqfn>(t.dq)(q.data(), y.data(), N);
      fprintf(f, "%s\n    \"%s\": { \"bytes\": \"", first ? "" : ",", tr->name); first = false;
      b64(f, q.data(), q.size()); fprintf(f, "\", \"f32\": \"");
      b64(f, (const uint8_t *)y.data(), N * 4); fprintf(f, "\" }");
    }
    fprintf(f, "\n  }\n}\n");
    fclose(f);
    return 0;
  }
  for (auto &t : types) {
    const kiln_type_traits *tr = kiln_type_traits_of(t.type);
    qfn gq = sym<qfn>(t.q); dqfn gdq = sym<dqfn>(t.dq);
    size_t bytes = kiln_row_size(t.type, N);
    std::vector<uint8_t> gb(bytes), kb(bytes);
    std::vector<float> g1(N), k1(N), g2(N);
    printf("%-5s", tr->name);
    for (int di = 0; di < 4; di++) {
      const float *x = dists[di].data();
      gq(x, gb.data(), N); gdq(gb.data(), g1.data(), N); tr->to_float(gb.data(), k1.data(), N);
      if (memcmp(g1.data(), k1.data(), N * 4) != 0) { printf(" DEQUANT MISMATCH(%s)", dist_names[di]); fails++; }
      tr->from_float_ref(x, kb.data(), N); tr->to_float(kb.data(), k1.data(), N); gdq(kb.data(), g2.data(), N);
      if (memcmp(g2.data(), k1.data(), N * 4) != 0) { printf(" OURS-READ-BY-GGML MISMATCH(%s)", dist_names[di]); fails++; }
      printf("  %s ggml %.3e kiln %.3e (%.3f)", dist_names[di], nmse(x, g1.data(), N), nmse(x, k1.data(), N), nmse(x, k1.data(), N) / nmse(x, g1.data(), N));
    }
    // random bytes with finite scales
    std::vector<uint8_t> rb(bytes);
    for (auto &b : rb) b = rng() & 0xff;
    std::vector<float> a(N), b2(N);
    tr->to_float(rb.data(), a.data(), N); gdq(rb.data(), b2.data(), N);
    int64_t bad = 0;
    for (int64_t i = 0; i < N; i++) { uint32_t ua, ub; memcpy(&ua, &a[i], 4); memcpy(&ub, &b2[i], 4); if (ua != ub && !(isnan(a[i]) && isnan(b2[i]))) bad++; }
    if (bad) { printf(" RANDOM BYTES MISMATCH %lld", (long long)bad); fails++; }
    printf("\n");
  }
  // fp16 / bf16 conversions over all inputs sampled
  auto g16 = sym<void (*)(const float *, uint16_t *, int64_t)>("ggml_fp32_to_fp16_row");
  auto gbf = sym<void (*)(const float *, uint16_t *, int64_t)>("ggml_fp32_to_bf16_row");
  auto g16f = sym<void (*)(const uint16_t *, float *, int64_t)>("ggml_fp16_to_fp32_row");
  int64_t bad16 = 0, badbf = 0, badback = 0;
  const int64_t M = 1 << 20;
  std::vector<float> f(M); std::vector<uint16_t> h(M);
  for (uint64_t base = 0; base < (1ull << 32); base += M) {
    for (int64_t i = 0; i < M; i++) { uint32_t u = (uint32_t)(base + i); memcpy(&f[i], &u, 4); }
    g16(f.data(), h.data(), M);
    for (int64_t i = 0; i < M; i++) { uint16_t k = kiln_f32_to_f16(f[i]); if (k != h[i] && !(isnan(f[i]))) bad16++; }
    gbf(f.data(), h.data(), M);
    for (int64_t i = 0; i < M; i++) { uint16_t k = kiln_f32_to_bf16(f[i]); if (k != h[i]) badbf++; }
  }
  std::vector<uint16_t> all(65536); std::vector<float> out(65536);
  for (int i = 0; i < 65536; i++) all[i] = i;
  g16f(all.data(), out.data(), 65536);
  for (int i = 0; i < 65536; i++) { float k = kiln_f16_to_f32(i); if (memcmp(&k, &out[i], 4) && !(isnan(k) && isnan(out[i]))) badback++; }
  printf("f32->f16 mismatches %lld, f32->bf16 %lld, f16->f32 %lld\n", (long long)bad16, (long long)badbf, (long long)badback);
  return fails;
}
