#!/usr/bin/env bash
# Makes sure the system packages that the build and the test suite need are
# present. As root with apt-get (Debian/Ubuntu) it installs what is missing;
# anywhere else it stops with one line naming the packages and the command
# that installs them, before any test runs.
set -euo pipefail

missing=()
want() { # want PACKAGE CHECK...
  local pkg=$1; shift
  if ! "$@" >/dev/null 2>&1; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
}
# The native addon (node-gyp) and npm's git dependencies.
want g++ command -v g++
want make command -v make
want git command -v git
want python3 test -x /usr/bin/python3
# The oracle tests decode GGUF with llama.cpp's gguf-py, run by Debian's python3 with numpy.
want python3-numpy /usr/bin/python3 -c 'import numpy'
# Registry tests: the real CNCF Distribution registry, bcrypt htpasswd, certificates for token auth.
want docker-registry test -x /usr/bin/docker-registry
want apache2-utils command -v htpasswd
want openssl command -v openssl
# kiln run is tested in a real terminal; the default thread count under a restricted CPU affinity.
want tmux command -v tmux
want util-linux command -v taskset
# The Vulkan backend: headers and loader, the GLSL compiler, and Mesa's lavapipe (a CPU Vulkan device the GPU tests run on).
want libvulkan-dev test -f /usr/include/vulkan/vulkan_core.h
want glslc command -v glslc
want mesa-vulkan-drivers sh -c 'ls /usr/share/vulkan/icd.d/lvp_icd.*.json'

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing missing system packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

echo "kiln tests need these system packages: ${missing[*]} — install them with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
