#!/usr/bin/env bash
# Generates TypeScript for src/proto/*.proto into src/proto/gen/ with the buf CLI and
# protoc-gen-es (both from npm, pinned in package-lock.json).
#   scripts/gen-proto.sh          regenerate
#   scripts/gen-proto.sh --check  fail if the committed generated code is stale
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/node_modules/.bin:$PATH"

if [ "${1:-}" = "--check" ]; then
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/pqe2ee-proto.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  sed "s#out: src/proto/gen#out: $scratch#" buf.gen.yaml > "$scratch.gen.yaml"
  buf generate --template "$scratch.gen.yaml"
  rm -f "$scratch.gen.yaml"
  if ! diff -r "$scratch" src/proto/gen >/dev/null; then
    diff -r "$scratch" src/proto/gen | head -20 >&2
    echo "gen-proto: src/proto/gen is stale; run scripts/gen-proto.sh and commit the result" >&2
    exit 1
  fi
  echo "gen-proto: generated code is up to date"
else
  rm -rf src/proto/gen
  buf generate
  echo "gen-proto: wrote src/proto/gen/"
fi
