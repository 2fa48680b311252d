// mapFile(path) -> ArrayBuffer over a read-only mapping; unmap(buffer).
//
// The ArrayBuffer is external: its bytes are the mapping, so weights never enter
// the JS heap. unmap() detaches the buffer before munmap, so every view of it
// becomes zero-length instead of pointing at freed pages. A buffer that is never
// unmapped is unmapped by its finalizer when it is collected.
#include "napi_util.h"

#include <errno.h>
#include <string.h>

#include <map>
#include <mutex>

extern "C" {
#include "mmap.h"
}

namespace {

struct Mapping {
  kiln_mapping m;
  bool live; // false once unmap() ran; the struct lives until the finalizer
};

// Live mappings by address, so unmap() can find the mapping behind a buffer.
std::mutex g_mu;
std::map<const void *, Mapping *> g_live;

void finalize(napi_env, void *, void *hint) {
  Mapping *mp = static_cast<Mapping *>(hint);
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (mp->live) {
      g_live.erase(mp->m.data);
      kiln_unmap(&mp->m);
      mp->live = false;
    }
  }
  delete mp;
}

napi_value map_file(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  char path[4096];
  if (!kiln_get_string(env, argv[0], "path", path, sizeof path)) return nullptr;

  kiln_mapping m;
  int err = kiln_map_file(path, &m);
  if (err != 0) return kiln_throw(env, "cannot map %s: %s", path, strerror(err));

  napi_value ab;
  if (m.data == nullptr) { // empty file: a plain empty buffer, nothing to unmap
    void *unused;
    KILN_NAPI_CALL(env, napi_create_arraybuffer(env, 0, &unused, &ab));
    return ab;
  }
  Mapping *mp = new Mapping{m, true};
  if (napi_create_external_arraybuffer(env, m.data, m.size, finalize, mp, &ab) != napi_ok) {
    kiln_unmap(&mp->m);
    delete mp;
    return kiln_throw(env, "cannot create an external ArrayBuffer for %s", path);
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_live[m.data] = mp;
  return ab;
}

napi_value unmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!kiln_get_args(env, info, 1, argv)) return nullptr;
  bool is_ab = false;
  napi_is_arraybuffer(env, argv[0], &is_ab);
  if (!is_ab) return kiln_throw(env, "unmap expects the ArrayBuffer returned by mapFile");
  void *data = nullptr;
  size_t len = 0;
  KILN_NAPI_CALL(env, napi_get_arraybuffer_info(env, argv[0], &data, &len));
  napi_value undef;
  napi_get_undefined(env, &undef);
  if (data == nullptr || len == 0) return undef; // empty file, or already unmapped (detached)

  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_live.find(data);
  if (it == g_live.end() || it->second->m.size != len)
    return kiln_throw(env, "unmap expects the ArrayBuffer returned by mapFile");
  // Detach first: after this no JS view can reach the pages we are about to unmap.
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok)
    return kiln_throw(env, "cannot detach the mapped ArrayBuffer");
  Mapping *mp = it->second;
  g_live.erase(it);
  kiln_unmap(&mp->m);
  mp->live = false;
  return undef;
}

// releasePages(buffer, offset, length): drops the process's pages of that range of the mapping.
napi_value release_pages(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!kiln_get_args(env, info, 3, argv)) return nullptr;
  void *data = nullptr;
  size_t len = 0;
  bool is_ab = false;
  napi_is_arraybuffer(env, argv[0], &is_ab);
  if (!is_ab) return kiln_throw(env, "releasePages expects the ArrayBuffer returned by mapFile");
  KILN_NAPI_CALL(env, napi_get_arraybuffer_info(env, argv[0], &data, &len));
  double off = 0, n = 0;
  KILN_NAPI_CALL(env, napi_get_value_double(env, argv[1], &off));
  KILN_NAPI_CALL(env, napi_get_value_double(env, argv[2], &n));
  napi_value undef;
  napi_get_undefined(env, &undef);
  if (!(off >= 0) || !(n >= 0)) return kiln_throw(env, "releasePages: offset and length must be >= 0");
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_live.find(data);
  if (data == nullptr || it == g_live.end()) return undef; // empty or unmapped: nothing mapped to drop
  int err = kiln_mapping_release(&it->second->m, (size_t)off, (size_t)n);
  if (err != 0) return kiln_throw(env, "releasePages: %s", strerror(err));
  return undef;
}

} // namespace

void kiln_register_mmap(napi_env env, napi_value exports) {
  kiln_export(env, exports, "mapFile", map_file);
  kiln_export(env, exports, "unmap", unmap);
  kiln_export(env, exports, "releasePages", release_pages);
}
