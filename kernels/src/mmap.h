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

#ifdef __cplusplus
}
#endif
