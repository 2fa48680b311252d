// A persistent pool of worker threads for row-parallel kernels. One parallel
// region runs at a time (callers from several JS threads are serialized).
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*kiln_task_fn)(void *ctx, int64_t begin, int64_t end);

// Total threads taking part in a region, the caller included (n >= 1). The
// default is the number of hardware threads.
void kiln_pool_set_threads(int n);
int kiln_pool_threads(void);

// Calls fn(ctx, b, e) over disjoint chunks covering [0, n), each at most
// `grain` long, on every pool thread and the caller; returns when all are done.
// Which thread runs which chunk varies, so fn must write only its own range.
void kiln_pool_run(kiln_task_fn fn, void *ctx, int64_t n, int64_t grain);

#ifdef __cplusplus
}
#endif
