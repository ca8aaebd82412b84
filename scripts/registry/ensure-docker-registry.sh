#!/usr/bin/env bash
# Prints the path of Debian's `docker-registry` (the CNCF distribution registry), installing the
# package with apt when it is missing. The remote-chart suite runs it on 127.0.0.1 as a real OCI
# registry; nothing is downloaded outside the Debian archive. SLUICE_DOCKER_REGISTRY overrides.
set -euo pipefail
if [[ -n "${SLUICE_DOCKER_REGISTRY:-}" ]]; then
  [[ -x "$SLUICE_DOCKER_REGISTRY" ]] || { echo "SLUICE_DOCKER_REGISTRY=$SLUICE_DOCKER_REGISTRY is not an executable; unset it or point it at docker-registry" >&2; exit 1; }
  echo "$SLUICE_DOCKER_REGISTRY"; exit 0
fi
path=$(command -v docker-registry 2>/dev/null || true)
if [[ -n "$path" ]]; then echo "$path"; exit 0; fi
command -v apt-get >/dev/null || { echo "no docker-registry found and no apt-get to install it: install the distribution registry and set SLUICE_DOCKER_REGISTRY to its path" >&2; exit 1; }
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "installing docker-registry needs root: run 'apt-get install -y docker-registry' as root" >&2; exit 1; }
  sudo=(sudo -n)
fi
echo "installing Debian's docker-registry package (once)" >&2
export DEBIAN_FRONTEND=noninteractive
# Suites install in parallel workers: one apt at a time (apt itself would fail on its lock).
exec 9>"${TMPDIR:-/tmp}/sluice-apt.lock"
flock -w 900 9
# The package lists of the base image usually suffice; refresh them only when they do not.
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker-registry >&2 ||
  { "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 && "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker-registry >&2; }
path=$(command -v docker-registry 2>/dev/null || true)
[[ -n "$path" ]] || { echo "apt-get installed docker-registry but it is not on PATH" >&2; exit 1; }
echo "$path"
