// A plain streaming read of a buffer on the thread pool: the memory-bandwidth
// ceiling that bench/matvec.ts measures matvec against, in the same process
// and on the same pages.
#include <string.h>

#include <vector>

#include "ops.h"
#include "pool.h"

namespace {

// 1 MiB per chunk: long enough for the hardware prefetchers to ramp up,
// short enough for the two pool threads to finish together.
const size_t CHUNK = size_t(1) << 20;

struct ReadJob {
  const uint8_t *p;
  size_t bytes;
  uint64_t *sums; // one per chunk, 8 apart (no two threads write one cache line)
};

void read_chunks(void *ctx, int64_t b, int64_t e) {
  const ReadJob &j = *static_cast<const ReadJob *>(ctx);
  for (int64_t c = b; c < e; c++) {
    const size_t lo = (size_t)c * CHUNK, hi = lo + CHUNK < j.bytes ? lo + CHUNK : j.bytes;
    // eight independent sums, so the loop is bound by loads and not by one add chain
    uint64_t s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = lo;
    for (; i + 64 <= hi; i += 64) {
      // the same 8 KB software prefetch as the dot kernels (x86/avx2_util.h):
      // without it this loop read ~15% slower, and the ceiling must be the
      // best plain read
      __builtin_prefetch(j.p + i + 8192, 0, 3);
      uint64_t v[8];
      memcpy(v, j.p + i, 64);
      for (int k = 0; k < 8; k++) s[k] += v[k];
    }
    for (; i < hi; i++) s[0] += j.p[i];
    j.sums[(size_t)c * 8] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
  }
}

} // namespace

extern "C" uint64_t kiln_mem_read(const void *p, size_t bytes) {
  const int64_t chunks = (int64_t)((bytes + CHUNK - 1) / CHUNK);
  std::vector<uint64_t> sums((size_t)chunks * 8, 0);
  ReadJob job{static_cast<const uint8_t *>(p), bytes, sums.data()};
  kiln_pool_run(read_chunks, &job, chunks, 1);
  uint64_t total = 0;
  for (int64_t c = 0; c < chunks; c++) total += sums[(size_t)c * 8];
  return total;
}
