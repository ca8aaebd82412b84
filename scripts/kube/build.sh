#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy (no Docker, no binary
# downloads) into .cache/kube/bin. Idempotent: a binary already present is kept.
#
#   scripts/kube/build.sh            # build what is missing, print timings
#   KUBE_VERSION=v1.34.4 ETCD_VERSION=v3.6.16 scripts/kube/build.sh
#
# kube-apiserver: a throwaway module requires k8s.io/kubernetes and replaces
# every staging module (k8s.io/api, k8s.io/apiserver, ...) with its published
# v0.<minor>.<patch> twin, as the kubernetes go.mod points them at ./staging.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${SLUICE_KUBE_CACHE:-$ROOT/.cache/kube}"
BIN="$CACHE/bin"
export GOMODCACHE="${GOMODCACHE_OVERRIDE:-$CACHE/gomod}"
export GOCACHE="${GOCACHE_OVERRIDE:-$CACHE/gobuild}"
export GOPATH="$CACHE/gopath"
export CGO_ENABLED=0
export GOFLAGS="-trimpath -mod=mod -buildvcs=false"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
JOBS="${KUBE_BUILD_JOBS:-2}"
mkdir -p "$BIN" "$GOMODCACHE" "$GOCACHE"

command -v go >/dev/null || { echo "build.sh: the Go toolchain (go) is not on PATH; install Go >= 1.24" >&2; exit 2; }

elapsed() { echo $(( $(date +%s) - $1 )); }
total_start=$(date +%s)

build_apiserver() {
  local out="$BIN/kube-apiserver-$KUBE_VERSION"
  if [[ -x "$out" ]]; then echo "kube-apiserver $KUBE_VERSION: cached ($out)"; return; fi
  local start src minor patch gomod
  start=$(date +%s)
  src="$CACHE/src/apiserver-$KUBE_VERSION"
  mkdir -p "$src"
  minor="${KUBE_VERSION#v1.}"; patch="${minor#*.}"; minor="${minor%%.*}"
  cd "$src"
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [[ -f "$gomod" ]] || { echo "build.sh: cannot download k8s.io/kubernetes@$KUBE_VERSION from the module proxy" >&2; exit 1; }
  {
    echo "module sluice.local/kube-apiserver-build"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    # Every "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.<minor>.<patch>".
    grep -oE 'k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" |
      awk -v v="v0.$minor.$patch" '{ print "\t" $1 " => " $1 " " v }'
    echo ")"
  } > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || go mod download
  go build -p "$JOBS" -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$out.tmp" "$out"
  echo "kube-apiserver $KUBE_VERSION: built in $(elapsed "$start")s"
}

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  if [[ -x "$out" ]]; then echo "etcd $ETCD_VERSION: cached ($out)"; return; fi
  local start src
  start=$(date +%s)
  src="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$src"
  cd "$src"
  printf 'module sluice.local/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || go mod download
  go build -p "$JOBS" -ldflags "-s -w" -o "$out.tmp" go.etcd.io/etcd/server/v3
  mv "$out.tmp" "$out"
  echo "etcd $ETCD_VERSION: built in $(elapsed "$start")s"
}

build_etcd
build_apiserver
ln -sf "kube-apiserver-$KUBE_VERSION" "$BIN/kube-apiserver"
ln -sf "etcd-$ETCD_VERSION" "$BIN/etcd"
echo "kube binaries ready in $BIN (total $(elapsed "$total_start")s)"
