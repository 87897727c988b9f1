#!/usr/bin/env bash
# Fetches the pinned C sources listed in scripts/deps.lock into deps/ and verifies their hashes.
#   pqclean   -> deps/pqclean   (the npm package's deps/PQClean tree)
#   mbedtls   -> deps/mbedtls   (Debian source package, patches applied)
#   libsodium -> deps/libsodium (Debian source package, patches applied)
# Debian sources need a deb-src entry for the suite that carries them (trixie); on a machine where
# we are root and it is missing, this script adds one. Re-running is cheap: verified trees are kept.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lock="$root/scripts/deps.lock"
deps="$root/deps"
downloads="$deps/.downloads"
debian_suite=trixie
mkdir -p "$downloads"

fail() { echo "fetch-deps: $*" >&2; exit 1; }

verify() { # file expected-sha256
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$actual" = "$2" ] || fail "$(basename "$1"): sha256 $actual, expected $2 (scripts/deps.lock)"
}

lock_rows() { grep -vE '^\s*(#|$)' "$lock"; }

ensure_deb_src() {
  command -v dpkg-source >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -q dpkg-dev >/dev/null; } \
    || fail "dpkg-source (package dpkg-dev) is needed to unpack Debian sources"
  if ! apt-cache showsrc "$1" 2>/dev/null | grep -q "^Version: $2\$"; then
    [ "$(id -u)" = 0 ] || fail "no deb-src entry serves $1 $2; add 'deb-src http://deb.debian.org/debian $debian_suite main' and run apt-get update"
    cat > /etc/apt/sources.list.d/pqe2ee-$debian_suite-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $debian_suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -q >/dev/null || fail "apt-get update failed"
    apt-cache showsrc "$1" 2>/dev/null | grep -q "^Version: $2\$" \
      || fail "Debian no longer serves source $1 $2 (served: $(apt-cache showsrc "$1" | sed -n 's/^Version: //p' | tr '\n' ' ')); pin a served version in scripts/deps.lock, then rebuild the wasm"
  fi
}

fetch_npm() { # name version
  local tarball="$downloads/$1-$2.tgz"
  [ -f "$tarball" ] || (cd "$downloads" && npm pack --silent "$1@$2" >/dev/null) || fail "npm pack $1@$2 failed"
}

fetch_debian() { # name version
  ensure_deb_src "$1" "$2"
  (cd "$downloads" && apt-get source -q --download-only "$1=$2" >/dev/null 2>&1) \
    || fail "apt-get source $1=$2 failed"
}

unpack() { # name version kind
  local name=$1 version=$2 kind=$3 target="$deps/$1" stamp="$deps/$1/.pqe2ee-verified"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && return 0
  rm -rf "$target" && mkdir -p "$target"
  if [ "$kind" = npm ]; then
    tar -xzf "$downloads/$name-$version.tgz" -C "$target" --strip-components=3 package/deps/PQClean
  else
    local dsc
    dsc=$(ls "$downloads/${name}_${version}.dsc" 2>/dev/null || ls "$downloads/${name}_${version#*:}.dsc")
    rm -rf "$target"
    dpkg-source --no-check -x "$dsc" "$target" >/dev/null || fail "dpkg-source could not unpack $dsc"
  fi
  echo "$version" > "$stamp"
}

fetched=""
while read -r kind name version file sha; do
  key="$kind:$name:$version"
  case " $fetched " in *" $key "*) ;; *)
    if [ ! -f "$downloads/$file" ]; then
      if [ "$kind" = npm ]; then fetch_npm "$name" "$version"; else fetch_debian "$name" "$version"; fi
    fi
    fetched="$fetched $key";;
  esac
  [ -f "$downloads/$file" ] || fail "$file was not downloaded"
  verify "$downloads/$file" "$sha"
done < <(lock_rows)

lock_rows | awk '{print $2, $3, $1}' | sort -u | while read -r name version kind; do
  unpack "$name" "$version" "$kind"
done
echo "fetch-deps: pqclean, mbedtls, libsodium verified in deps/"
