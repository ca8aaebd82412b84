#!/usr/bin/env bash
# Prints the path of a tool from a Debian package, installing the package with apt when none of
# the tool's names is on PATH. Usage: ensure-tool.sh PACKAGE OVERRIDE_VAR NAME [NAME...]
# OVERRIDE_VAR (e.g. SLUICE_CHROMIUM), when set, names the executable to use instead.
set -euo pipefail
package=$1 override=$2
shift 2
found() { for name in "$@"; do command -v "$name" 2>/dev/null && return 0; done; return 0; }
if [[ -n "${!override:-}" ]]; then
  [[ -x "${!override}" ]] || { echo "$override=${!override} is not an executable; unset it or point it at $1" >&2; exit 1; }
  echo "${!override}"; exit 0
fi
path=$(found "$@")
if [[ -n "$path" ]]; then echo "$path"; exit 0; fi
command -v apt-get >/dev/null || { echo "no $1 found and no apt-get to install it: install $package and set $override to its path" >&2; exit 1; }
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "installing $package needs root: run 'apt-get install -y $package' as root" >&2; exit 1; }
  sudo=(sudo -n)
fi
echo "installing Debian's $package package (once)" >&2
export DEBIAN_FRONTEND=noninteractive
# Suites install in parallel workers: one apt at a time (apt itself would fail on its lock).
exec 9>"${TMPDIR:-/tmp}/sluice-apt.lock"
flock -w 900 9
apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600)
# The base image's package lists usually suffice; refresh them only when they do not.
"${apt[@]}" install -y -qq --no-install-recommends "$package" >&2 ||
  { "${apt[@]}" update -qq >&2 && "${apt[@]}" install -y -qq --no-install-recommends "$package" >&2; }
path=$(found "$@")
[[ -n "$path" ]] || { echo "apt-get installed $package but $1 is not on PATH" >&2; exit 1; }
echo "$path"
