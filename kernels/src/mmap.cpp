#include "mmap.h"

#include <errno.h>
#include <stdint.h>
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

extern "C" int kiln_mapping_release(const kiln_mapping *m, size_t offset, size_t len) {
  if (m->data == nullptr || offset >= m->size) return 0;
  if (len > m->size - offset) len = m->size - offset;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t a = reinterpret_cast<uintptr_t>(m->data) + offset;
  const uintptr_t lo = (a + page - 1) / page * page, hi = (a + len) / page * page;
  if (hi <= lo) return 0;
  // a read-only private mapping never written: the pages are the file's, dropping them loses nothing
  return madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_DONTNEED) == 0 ? 0 : errno;
}
