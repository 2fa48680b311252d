#include "variant.h"

#include <stdlib.h>
#include <string.h>

#include <mutex>

#include "ref/kv_quant.h"
#include "ref/llama_ops.h"

int kiln_prefetch_l2 = 0;

namespace {

kiln_kernel_table g_tables[KILN_VARIANT_COUNT];
bool g_supported[KILN_VARIANT_COUNT];
std::once_flag g_once;

void fill_reference(kiln_kernel_table &t) {
  if (t.attn == nullptr) t.attn = kiln_attn_ref;
  if (t.attn_batch == nullptr) t.attn_batch = kiln_attn_batch_ref;
  if (t.silu_mul == nullptr) t.silu_mul = kiln_silu_mul_ref;
  if (t.rmsnorm == nullptr) t.rmsnorm = kiln_rmsnorm_ref;
  if (t.attn_quant == nullptr) t.attn_quant = kiln_attn_quant_ref;
  // a tile must match its vec_dot bit for bit; a vec_dot without a tile is looped over
  for (int i = 0; i < KILN_TYPE_COUNT; i++)
    if (t.vec_dot[i] == nullptr) {
      t.vec_dot_tile[i] = nullptr;
      t.gemm[i] = nullptr;
    }
  for (int i = 0; i < KILN_TYPE_COUNT; i++) {
    if (t.vec_dot[i] != nullptr && t.from_float[i] != nullptr) continue;
    const kiln_type_traits *tr = kiln_type_traits_of(i);
    if (tr == nullptr) continue;
    if (t.vec_dot[i] == nullptr) t.vec_dot[i] = tr->vec_dot;
    if (t.from_float[i] == nullptr) t.from_float[i] = tr->from_float_ref;
  }
}

void init() {
  const kiln_cpu_features *f = kiln_cpu_probe();
  kiln_prefetch_l2 = f->amd;
  // KILN_PREFETCH=l1|l2 overrides the choice (for measuring it on another CPU)
  if (const char *e = getenv("KILN_PREFETCH")) {
    if (strcmp(e, "l1") == 0) kiln_prefetch_l2 = 0;
    if (strcmp(e, "l2") == 0) kiln_prefetch_l2 = 1;
  }
  g_supported[KILN_VARIANT_SCALAR] = true;
#if defined(KILN_HAVE_X86_VARIANTS)
  g_supported[KILN_VARIANT_AVX2] = f->avx2 && f->fma && f->f16c;
  // The AVX-512 variant builds on the AVX2 one (it falls back to it per type).
  g_supported[KILN_VARIANT_AVX512] = g_supported[KILN_VARIANT_AVX2] && f->avx512f &&
                                     f->avx512bw && f->avx512vl && f->avx512vnni;
  // llama.cpp runs its AVX-512 build on a CPU with AVX-512 (F, BW, VL) and its
  // AVX2 one otherwise; the attention that mirrors it sums as that build does.
  const int llama_cpp_wide = f->avx512f && f->avx512bw && f->avx512vl;
  if (g_supported[KILN_VARIANT_AVX2]) {
    kiln_x86_avx2_register(&g_tables[KILN_VARIANT_AVX2]);
    kiln_x86_avx2_ops_register(&g_tables[KILN_VARIANT_AVX2], llama_cpp_wide);
    kiln_x86_avx2_iq_register(&g_tables[KILN_VARIANT_AVX2]);
  }
  if (g_supported[KILN_VARIANT_AVX512]) {
    kiln_x86_avx2_register(&g_tables[KILN_VARIANT_AVX512]);
    kiln_x86_avx2_ops_register(&g_tables[KILN_VARIANT_AVX512], llama_cpp_wide);
    kiln_x86_avx512_register(&g_tables[KILN_VARIANT_AVX512]);
    kiln_x86_avx512_gemm_register(&g_tables[KILN_VARIANT_AVX512]);
    kiln_x86_avx512_iq_register(&g_tables[KILN_VARIANT_AVX512]);
  }
#else
  (void)f;
#endif
  for (int v = 0; v < KILN_VARIANT_COUNT; v++) fill_reference(g_tables[v]);
}

} // namespace

extern "C" const char *kiln_variant_name(kiln_variant v) {
  switch (v) {
  case KILN_VARIANT_SCALAR: return "scalar";
  case KILN_VARIANT_AVX2: return "avx2";
  case KILN_VARIANT_AVX512: return "avx512";
  default: return "unknown";
  }
}

extern "C" int kiln_variant_supported(kiln_variant v) {
  std::call_once(g_once, init);
  return v >= 0 && v < KILN_VARIANT_COUNT && g_supported[v];
}

extern "C" kiln_variant kiln_best_variant(void) {
  for (int v = KILN_VARIANT_COUNT - 1; v > 0; v--)
    if (kiln_variant_supported(static_cast<kiln_variant>(v))) return static_cast<kiln_variant>(v);
  return KILN_VARIANT_SCALAR;
}

extern "C" const kiln_kernel_table *kiln_kernels_for(kiln_variant v) {
  return kiln_variant_supported(v) ? &g_tables[v] : nullptr;
}
