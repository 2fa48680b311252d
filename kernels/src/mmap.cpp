#include "mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" int kiln_map_file(const char *path, kiln_mapping *out) {
  out->data = nullptr;
  out->size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
  }
  if (st.st_size == 0) { // mmap rejects length 0; an empty mapping is still valid
    close(fd);
    return 0;
  }
  size_t size = static_cast<size_t>(st.st_size);
  // MAP_PRIVATE + PROT_READ: pages are shared with the page cache, and a stray
  // write faults instead of reaching the blob store.
  void *p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd); // the mapping keeps its own reference to the file
  if (p == MAP_FAILED) return e;
  // A token reads every weight once, in file order: ask for read-ahead now.
  // Advice is only a hint, so a failure is ignored.
  (void)madvise(p, size, MADV_WILLNEED);
  out->data = p;
  out->size = size;
  return 0;
}

extern "C" void kiln_unmap(kiln_mapping *m) {
  if (m->data != nullptr) munmap(m->data, m->size);
  m->data = nullptr;
  m->size = 0;
}
