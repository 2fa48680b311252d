// AVX2 kernels of the IQ types, TQ1_0/TQ2_0 and MXFP4 (the shared code is in
// iq_simd.h): sub-block scales applied by vpmaddwd, then added.
#include "iq_simd.h"
#include "variant.h"

namespace {

struct MaddAcc {
  static __m256i acc(__m256i acc, __m256i pairs16, __m256i scale16) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs16, scale16));
  }
};

} // namespace

extern "C" void kiln_x86_avx2_iq_register(kiln_kernel_table *t) { register_iq<MaddAcc>(t); }
