// AVX2 + FMA + F16C kernels. This file is compiled with -mavx2 -mfma -mf16c and
// must only run after kiln_cpu_probe() reported those features.
#include "variant.h"

extern "C" void kiln_x86_avx2_register(kiln_kernel_table *t) { (void)t; }
