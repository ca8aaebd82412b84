#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium for the dashboard's browser suite, installing
# Debian's `chromium` package with apt when none is found. playwright-core drives it; nothing
# downloads a browser of its own. SLUICE_CHROMIUM overrides the search.
set -euo pipefail
found() { command -v "$1" 2>/dev/null || true; }
if [[ -n "${SLUICE_CHROMIUM:-}" ]]; then
  [[ -x "$SLUICE_CHROMIUM" ]] || { echo "SLUICE_CHROMIUM=$SLUICE_CHROMIUM is not an executable; unset it or point it at chromium" >&2; exit 1; }
  echo "$SLUICE_CHROMIUM"; exit 0
fi
for name in chromium chromium-browser; do
  path=$(found "$name")
  if [[ -n "$path" ]]; then echo "$path"; exit 0; fi
done
if ! command -v apt-get >/dev/null; then
  echo "no chromium found and no apt-get to install it: install Chromium and set SLUICE_CHROMIUM to its path" >&2
  exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "installing chromium needs root: run 'apt-get install -y chromium' as root" >&2; exit 1; }
  sudo=(sudo -n)
fi
echo "installing Debian's chromium package (once)" >&2
export DEBIAN_FRONTEND=noninteractive
# Suites install in parallel workers: one apt at a time (apt itself would fail on its lock).
exec 9>"${TMPDIR:-/tmp}/sluice-apt.lock"
flock -w 900 9
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >&2
path=$(found chromium)
[[ -n "$path" ]] || { echo "apt-get installed chromium but it is not on PATH" >&2; exit 1; }
echo "$path"
