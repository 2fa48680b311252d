// AVX-512 (VNNI) kernels of the IQ types, TQ1_0/TQ2_0 and MXFP4: the shared
// code of iq_simd.h with the scale-and-accumulate step done by one vpdpwssd
// (AVX512-VNNI on 256-bit registers) instead of vpmaddwd + vpaddd.
#include "iq_simd.h"
#include "variant.h"

namespace {

struct VnniAcc {
  static __m256i acc(__m256i acc, __m256i pairs16, __m256i scale16) { return _mm256_dpwssd_epi32(acc, pairs16, scale16); }
};

} // namespace

extern "C" void kiln_x86_avx512_iq_register(kiln_kernel_table *t) { register_iq<VnniAcc>(t); }
