#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the layering and format checks, the
# unit tests, the end-to-end tests (including the slow ones), then the unit tests and the quick
# end-to-end tests again with AddressSanitizer and UndefinedBehaviorSanitizer built in.
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
stop_services() {
  for dir in build/s3-services build-asan/s3-services; do
    bash tests/s3/services.sh stop "$dir" >/dev/null 2>&1 || true
  done
}
trap stop_services EXIT
labels=()
[[ ${QUICK:-0} == 1 ]] && labels=(-LE slow)
(cd build && ctest --output-on-failure -j"$(nproc)" "${labels[@]}")

if [[ ${QUICK:-0} != 1 ]]; then
  echo "== unit and quick end-to-end tests under AddressSanitizer and UndefinedBehaviorSanitizer"
  bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DPHIVAULT_SANITIZE=address,undefined
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure -j"$(nproc)" -L unit)
  # The phivault binary itself, through the end-to-end scripts (the S3 one included).
  (cd build-asan && ctest --output-on-failure -L e2e -LE slow)
fi
