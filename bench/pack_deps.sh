#!/usr/bin/env bash
# Copies the header-only dependencies and the GoogleTest sources found on this machine into .deps/
# (git-ignored), for machines that lack the Debian packages (the lent GPU machines): configure
# there with -DDYNPMNN_DEPS_DIR=$PWD/.deps (cmake/Dependencies.cmake looks there first).
#   .deps/include/{CLI,toml++,nlohmann,fmt,stb}   from /usr/include
#   .deps/googletest                              from /usr/src/googletest
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps="$root/.deps"
rm -rf "$deps"
mkdir -p "$deps/include"
for dir in CLI toml++ nlohmann fmt stb; do
  src=/usr/include/$dir
  if [ ! -d "$src" ]; then
    echo "pack_deps: $src is missing: run scripts/bootstrap (it installs the Debian packages)" >&2
    exit 1
  fi
  cp -r "$src" "$deps/include/"
done
if [ ! -f /usr/src/googletest/CMakeLists.txt ]; then
  echo "pack_deps: /usr/src/googletest is missing: apt-get install googletest" >&2
  exit 1
fi
# Sources only: docs, CI files and the samples are not needed to build gtest and gmock.
mkdir -p "$deps/googletest"
cp -r /usr/src/googletest/. "$deps/googletest/"
find "$deps/googletest" -type d \( -name docs -o -name samples -o -name .github \) -prune -exec rm -rf {} +
size_kb=$(du -sk "$deps" | cut -f1)
echo "pack_deps: $deps holds $((size_kb / 1024)) MiB"
if ((size_kb > 20 * 1024)); then
  echo "pack_deps: more than 20 MiB, which is too much to carry to the device" >&2
  exit 1
fi
