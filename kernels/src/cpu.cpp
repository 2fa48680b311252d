#include "cpu.h"

#include <mutex>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#include <stdint.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__aarch64__)
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#endif

namespace {

kiln_cpu_features g_features;
std::once_flag g_once;

#if defined(__x86_64__) || defined(_M_X64)

bool bit(uint32_t reg, int n) { return (reg >> n) & 1u; }

// XGETBV via inline asm: the _xgetbv intrinsic would need -mxsave, and this file
// must stay free of ISA flags.
uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// AMX tile data (XCR0 bit 18) is off for every process on Linux until it asks with
// arch_prctl(ARCH_REQ_XCOMP_PERM); using tiles without it kills the process. We
// never request it (no AMX kernels yet), so only report AMX if something in this
// process already holds the permission.
bool amx_permitted() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  const long ARCH_GET_XCOMP_PERM = 0x1022;
  const int XFEATURE_XTILEDATA = 18;
  unsigned long mask = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) != 0) return false;
  return (mask >> XFEATURE_XTILEDATA) & 1ul;
#else
  return false;
#endif
}

void probe(kiln_cpu_features &f) {
  f.arch = "x86_64";
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 1) return;
  unsigned a, b, c, d;
  __cpuid_count(0, 0, a, b, c, d);
  // the vendor string is ebx, edx, ecx: "Auth" "enti" "cAMD" / "Hygo" "nGen" "uine"
  f.amd = (b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u) || (b == 0x6f677948u && d == 0x6e65476eu && c == 0x656e6975u);
  __cpuid_count(1, 0, a, b, c, d);
  const bool osxsave = bit(c, 27);
  f.sse42 = bit(c, 20);
  const bool cpu_avx = bit(c, 28);
  const bool cpu_fma = bit(c, 12);
  const bool cpu_f16c = bit(c, 29);

  // The CPU having AVX is not enough: the OS must save the YMM (and for AVX-512
  // the opmask and ZMM) state on context switch, which XCR0 tells us.
  uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;

  f.avx = cpu_avx && os_ymm;
  f.fma = f.avx && cpu_fma;
  f.f16c = f.avx && cpu_f16c;
  if (max_leaf < 7) return;

  __cpuid_count(7, 0, a, b, c, d);
  const unsigned leaf7_max_sub = a;
  f.avx2 = f.avx && bit(b, 5);
  f.avx512f = os_zmm && bit(b, 16);
  f.avx512bw = f.avx512f && bit(b, 30);
  f.avx512vl = f.avx512f && bit(b, 31);
  f.avx512vnni = f.avx512f && bit(c, 11);
  const bool cpu_amx_tile = bit(d, 24), cpu_amx_int8 = bit(d, 25);
  f.amx = cpu_amx_tile && cpu_amx_int8 && os_amx && amx_permitted();

  if (leaf7_max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avxvnni = f.avx2 && bit(a, 4);
  }
}

#elif defined(__aarch64__)

void probe(kiln_cpu_features &f) {
  f.arch = "arm64";
  f.neon = true; // Advanced SIMD is mandatory on AArch64
#if defined(__linux__)
  const unsigned long HWCAP_ASIMDDP_BIT = 1ul << 20;
  f.dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP_BIT) != 0;
#elif defined(__APPLE__)
  f.dotprod = true; // every Apple arm64 core has it
#endif
}

#else

void probe(kiln_cpu_features &f) { f.arch = "other"; }

#endif

} // namespace

extern "C" const kiln_cpu_features *kiln_cpu_probe(void) {
  std::call_once(g_once, [] { probe(g_features); });
  return &g_features;
}
