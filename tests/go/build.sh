#!/usr/bin/env bash
# Build the Go fixtures for linux/amd64 and linux/arm64, statically (CGO_ENABLED=0).
#   tests/go/build.sh [OUTDIR]      (default: $GOSCHED_GO_CACHE or ~/.cache/gosched-emu/go)
# Output: OUTDIR/<go version>/<arch>/<fixture>.  Nothing here is committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v go >/dev/null || { echo "go not found: apt-get install golang-go" >&2; exit 1; }
out="${1:-${GOSCHED_GO_CACHE:-$HOME/.cache/gosched-emu/go}}/$(go env GOVERSION)"
export CGO_ENABLED=0 GOOS=linux GO111MODULE=off
export GOCACHE="${GOCACHE:-$out/.gocache}"
for arch in amd64 arm64; do
  mkdir -p "$out/$arch"
  for dir in "$here"/*/; do
    name="$(basename "$dir")"
    GOARCH=$arch go build -trimpath -o "$out/$arch/$name" "$dir/main.go"
  done
done
echo "$out"
