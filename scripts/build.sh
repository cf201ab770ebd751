#!/usr/bin/env bash
# Configures and builds phivault.
#   scripts/build.sh [BUILD_DIR] [extra cmake arguments...]
# BUILD_DIR defaults to build/. The binary is BUILD_DIR/src/phivault/cli/phivault.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DPHIVAULT_WERROR=ON "$@" >/dev/null
ninja -C "$dir" -j"$(nproc)"
