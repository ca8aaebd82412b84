#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium for the dashboard's browser suite, installing
# Debian's `chromium` package with apt when none is found. playwright-core drives it; nothing
# downloads a browser of its own. SLUICE_CHROMIUM overrides the search.
exec "$(dirname "$0")/../apt/ensure-tool.sh" chromium SLUICE_CHROMIUM chromium chromium-browser
