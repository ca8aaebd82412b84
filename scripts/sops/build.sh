#!/usr/bin/env bash
# Builds the sops CLI from the Go module proxy (no binary downloads) into .cache/sops/bin.
# Tests use it to encrypt SOPS fixtures with the real tool; they skip, saying so, without it.
# Idempotent: a binary already present is kept.
#
#   scripts/sops/build.sh                 # build what is missing
#   SOPS_VERSION=v3.13.3 scripts/sops/build.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SOPS_VERSION="${SOPS_VERSION:-v3.13.3}"
CACHE="$ROOT/.cache/sops"
BIN="$CACHE/bin"
export GOMODCACHE="${GOMODCACHE_OVERRIDE:-$CACHE/gomod}"
export GOCACHE="${GOCACHE_OVERRIDE:-$CACHE/gobuild}"
export GOBIN="$BIN/tmp-$SOPS_VERSION"
export CGO_ENABLED=0
export GOFLAGS="-trimpath -mod=mod -buildvcs=false"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
mkdir -p "$BIN" "$GOMODCACHE" "$GOCACHE"

command -v go >/dev/null || { echo "sops/build.sh: the Go toolchain (go) is not on PATH; install Go >= 1.22" >&2; exit 2; }

out="$BIN/sops-$SOPS_VERSION"
if [[ -x "$out" ]]; then echo "sops $SOPS_VERSION: cached ($out)"; exit 0; fi
start=$(date +%s)
go install -p "${SOPS_BUILD_JOBS:-2}" -ldflags "-s -w" "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"
mv "$GOBIN/sops" "$out"
rmdir "$GOBIN" 2>/dev/null || true
ln -sf "sops-$SOPS_VERSION" "$BIN/sops"
echo "sops $SOPS_VERSION: built in $(( $(date +%s) - start ))s"
