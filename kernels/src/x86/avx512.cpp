// AVX-512 (F/BW/VL/VNNI) kernels. Compiled with the matching -m flags; only run
// after kiln_cpu_probe() reported them.
#include "variant.h"

extern "C" void kiln_x86_avx512_register(kiln_kernel_table *t) { (void)t; }
