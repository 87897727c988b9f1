#!/usr/bin/env bash
# Rebuilds the wasm core from scratch (fresh build dir, pinned sources) and fails if the bytes differ
# from the committed wasm/pqe2ee_core.wasm, or if wasm/BUILD.json or the embedded copy disagree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fresh=$(mktemp -d "${TMPDIR:-/tmp}/pqe2ee-repro.XXXXXX")
trap 'rm -rf "$fresh"' EXIT

bash "$root/scripts/build-wasm.sh" "$fresh" >/dev/null
committed=$(sha256sum "$root/wasm/pqe2ee_core.wasm" | cut -d' ' -f1)
rebuilt=$(sha256sum "$fresh/pqe2ee_core.wasm" | cut -d' ' -f1)
recorded=$(node -e "console.log(require('$root/wasm/BUILD.json').wasm.sha256)")
embedded=$(sed -n "s/^export const CORE_WASM_SHA256 = '\([0-9a-f]*\)';/\1/p" "$root/bindings/core-wasm-base64.ts")
embedded_bytes=$(node -e "
const src=require('fs').readFileSync('$root/bindings/core-wasm-base64.ts','utf8');
const body=src.slice(src.indexOf('CORE_WASM_BASE64'));const b64=[...body.matchAll(/'([A-Za-z0-9+\/=]+)'/g)].map(m=>m[1]).join('');
console.log(require('crypto').createHash('sha256').update(Buffer.from(b64,'base64')).digest('hex'))")

status=0
[ "$rebuilt" = "$committed" ] || { echo "check-wasm-repro: rebuilt $rebuilt != committed $committed" >&2; status=1; }
[ "$recorded" = "$committed" ] || { echo "check-wasm-repro: BUILD.json records $recorded, file is $committed" >&2; status=1; }
[ "$embedded" = "$committed" ] && [ "$embedded_bytes" = "$committed" ] \
  || { echo "check-wasm-repro: bindings/core-wasm-base64.ts is stale (run scripts/build-wasm.sh)" >&2; status=1; }
[ $status = 0 ] && echo "check-wasm-repro: OK, rebuilt wasm is byte-identical ($committed)"
exit $status
