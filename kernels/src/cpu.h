// CPU feature probe. Compiled without ISA flags: it must run on any CPU, and it
// is what decides whether the per-ISA code in x86/ may be called at all.
#pragma once
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cpu_features {
  const char *arch; // "x86_64", "arm64" or "other"
  bool sse42;
  bool avx;
  bool avx2;
  bool fma;
  bool f16c;
  bool avx512f;
  bool avx512bw;
  bool avx512vl;
  bool avx512vnni;
  bool avxvnni;
  bool amx;     // only when the OS already granted the tile state to this process
  bool neon;
  bool dotprod; // arm64 SDOT/UDOT
  bool amd;     // x86 vendor AuthenticAMD (or Hygon, the same cores)
} kiln_cpu_features;

// Probed once, then cached; safe to call from any thread.
const kiln_cpu_features *kiln_cpu_probe(void);

// Threads the kernels use unless told otherwise: physical cores in this
// process's affinity mask, within its cgroup CPU quota (src/cpu_count.cpp).
int kiln_default_threads(void);

#ifdef __cplusplus
}
#endif
