#!/usr/bin/env bash
# Prints the path of Debian's `docker-registry` (the CNCF distribution registry), installing the
# package with apt when it is missing. The remote-chart suite runs it on 127.0.0.1 as a real OCI
# registry; nothing is downloaded outside the Debian archive. SLUICE_DOCKER_REGISTRY overrides.
exec "$(dirname "$0")/../apt/ensure-tool.sh" docker-registry SLUICE_DOCKER_REGISTRY docker-registry
