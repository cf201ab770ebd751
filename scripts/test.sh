#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the layering and format checks, the
# unit tests, the end-to-end tests (including the slow ones), then the unit tests again under
# AddressSanitizer and UndefinedBehaviorSanitizer.
#   scripts/test.sh            everything
#   QUICK=1 scripts/test.sh    skip the sanitizer build and the slow tests
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "== layering and format"
python3 tools/check_layering.py
bash tools/format.sh --check

echo "== build"
bash scripts/build.sh build

echo "== unit and end-to-end tests"
# ctest's s3 fixture starts the S3 services and stops them by pid; should ctest itself be
# killed, stop them here too.
trap 'bash tests/s3/services.sh stop build/s3-services >/dev/null 2>&1 || true' EXIT
labels=()
[[ ${QUICK:-0} == 1 ]] && labels=(-LE slow)
(cd build && ctest --output-on-failure -j"$(nproc)" "${labels[@]}")

if [[ ${QUICK:-0} != 1 ]]; then
  echo "== unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
  bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DPHIVAULT_SANITIZE=address,undefined
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$(nproc)" -L unit)
fi
