#!/usr/bin/env bash
# Formats the C++ sources with the checked-in .clang-format (clang-format 14, Debian 12).
#   tools/format.sh          rewrite files in place
#   tools/format.sh --check  list files that need formatting and exit 1 if any do
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.h' 'src/*.cc' 'fuzz/*.cc')
if [[ ${1:-} == --check ]]; then
  bad=0
  for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
      echo "needs formatting: $f"
      bad=1
    fi
  done
  echo "format: ${#files[@]} files checked"
  exit $bad
fi
clang-format -i "${files[@]}"
