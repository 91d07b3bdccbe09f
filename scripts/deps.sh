#!/usr/bin/env bash
# Installs the project's native dependencies into .deps/ (and Debian
# packages into the system), idempotently, pinned by version and checksum.
# Every fetch goes through the three registries this project may reach:
# Debian's apt repositories, the npm registry and the Go module proxy.
#
#   scripts/deps.sh apt PKG...            Debian packages (skipped when present)
#   scripts/deps.sh npm NAME@VER SHA256   an npm tarball, unpacked into .deps/npm/NAME@VER
#   scripts/deps.sh debsrc PKG FILE DIR   a file of a Debian source package, unpacked into DIR
#   scripts/deps.sh gobin MOD@VER NAME    a Go program built into .deps/bin/NAME
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=${CZ_DEPS:-$root/.deps}
mkdir -p "$deps"

log() { echo "deps: $*" >&2; }

cmd=${1:?usage: deps.sh apt|npm|debsrc|gobin ...}; shift
case $cmd in
apt)
  missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && exit 0
  log "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ;;
npm)
  spec=$1 want=$2
  dest="$deps/npm/$spec"
  [ -f "$dest/.ok" ] && exit 0
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  log "fetching npm package $spec"
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    echo "deps: $spec: sha256 $got, expected $want" >&2; exit 1
  fi
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=1
  touch "$dest/.ok"
  ;;
debsrc)
  # Fetch the orig tarball of a Debian source package without touching the
  # system's apt configuration: a private sources list with deb-src lines.
  pkg=$1 file=$2 dest=$3
  [ -f "$dest/.ok" ] && exit 0
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/parts" "$tmp/lists/partial"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$tmp/parts/src.sources"
  else
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$tmp/parts/src.list"
  fi
  opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/parts" -o "Dir::State::Lists=$tmp/lists")
  log "fetching Debian source $pkg ($file)"
  apt-get "${opts[@]}" update -qq >/dev/null
  line=$(apt-get "${opts[@]}" source --print-uris "$pkg" 2>/dev/null | grep "$file" | head -1)
  [ -n "$line" ] || { echo "deps: $pkg: no source file matching $file" >&2; exit 1; }
  uri=$(echo "$line" | awk '{print $1}' | tr -d "'")
  name=$(echo "$line" | awk '{print $2}')
  sum=$(echo "$line" | awk '{print $4}')
  /usr/lib/apt/apt-helper download-file "$uri" "$tmp/$name" "$sum" >/dev/null
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xf "$tmp/$name" -C "$dest" --strip-components=1
  touch "$dest/.ok"
  ;;
gobin)
  mod=$1 name=$2
  bin="$deps/bin/$name"
  stamp="$deps/bin/.$name.version"
  [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ] && exit 0
  log "building $mod (a few CPU-minutes, once)"
  mkdir -p "$deps/bin"
  GOBIN="$deps/bin" go install "$mod"
  echo "$mod" >"$stamp"
  ;;
*)
  echo "deps.sh: unknown command $cmd" >&2; exit 2 ;;
esac
