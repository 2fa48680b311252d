// Read-only file mappings for model weights: the runner reads tensors straight
// out of the page cache, nothing is copied.
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_mapping {
  void *data;  // NULL for an empty file
  size_t size;
} kiln_mapping;

// Returns 0 on success, else an errno value (the mapping is left zeroed).
int kiln_map_file(const char *path, kiln_mapping *out);
// Unmaps and zeroes *m; a zeroed mapping is a no-op.
void kiln_unmap(kiln_mapping *m);
// Drops this process's pages of [offset, offset + len) of the mapping (the whole
// pages inside it): bytes the runner has copied to a device and will not read
// again. The file's pages stay in the page cache, reclaimable; a later read
// faults them back in. Returns 0, or an errno value.
int kiln_mapping_release(const kiln_mapping *m, size_t offset, size_t len);

#ifdef __cplusplus
}
#endif
