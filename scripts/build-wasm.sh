#!/usr/bin/env bash
# Builds wasm/pqe2ee_core.wasm from the pinned sources with emscripten and records wasm/BUILD.json,
# then regenerates bindings/core-wasm-base64.ts (the same bytes, embedded for the loader).
#   scripts/build-wasm.sh [output-dir]     (default: wasm/)
# Needs: emscripten (Debian: apt-get install emscripten), cmake, node.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${1:-$root/wasm}
build_dir=$(mktemp -d "${TMPDIR:-/tmp}/pqe2ee-wasm-build.XXXXXX")
trap 'rm -rf "$build_dir"' EXIT

command -v emcc >/dev/null || { echo "build-wasm: emcc not found (apt-get install -y emscripten)" >&2; exit 1; }
# Debian's emcc runs its JS tools with the system node and needs their modules on NODE_PATH.
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
# Timestamps and paths must not leak into the module.
export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC

bash "$root/scripts/fetch-deps.sh"

emcmake cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >"$build_dir/configure.log" 2>&1 \
  || { cat "$build_dir/configure.log" >&2; exit 1; }
cmake --build "$build_dir" -j"$(nproc)" >"$build_dir/build.log" 2>&1 \
  || { cat "$build_dir/build.log" >&2; exit 1; }

mkdir -p "$out_dir"
cp "$build_dir/pqe2ee_core.wasm" "$out_dir/pqe2ee_core.wasm"
node "$root/scripts/record-build.mjs" "$out_dir" "$build_dir"
echo "build-wasm: $(wc -c < "$out_dir/pqe2ee_core.wasm") bytes, sha256 $(sha256sum "$out_dir/pqe2ee_core.wasm" | cut -d' ' -f1)"
