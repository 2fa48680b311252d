// tryLockFile(fd) -> boolean
//
// An exclusive, non-blocking flock(2) on an open file: true when taken,
// false when another open file description holds it. The kernel releases it
// when the last descriptor of that description is closed, so a process that
// dies (even by SIGKILL) gives it up at once: the daemon's one-per-home
// lock rests on that rather than on a pid that may be reused.
#include "napi_util.h"

#include <errno.h>
#include <string.h>
#include <sys/file.h>

namespace {

napi_value try_lock_file(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  int64_t fd;
  if (!kiln_get_int64(env, argv[0], "fd", &fd)) return nullptr;
  if (fd < 0 || fd > INT32_MAX) return kiln_throw_range(env, "fd %lld is not a file descriptor", (long long)fd);
  int r;
  do r = flock((int)fd, LOCK_EX | LOCK_NB);
  while (r != 0 && errno == EINTR);
  if (r != 0 && errno != EWOULDBLOCK) return kiln_throw(env, "flock: %s", strerror(errno));
  napi_value out;
  napi_get_boolean(env, r == 0, &out);
  return out;
}

} // namespace

void kiln_register_flock(napi_env env, napi_value exports) {
  kiln_export(env, exports, "tryLockFile", try_lock_file);
}
