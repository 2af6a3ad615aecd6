#!/usr/bin/env bash
# lint.sh — clang-format (the checked-in .clang-format) and cppcheck over the C sources.
# Exits non-zero on a formatting difference or a cppcheck finding. Run by the tests when both
# tools are installed. (cppcheck does not parse CUDA; src/cuda/*.cu are formatted, not checked.)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
cd "$ROOT"
mapfile -t sources < <(find include src tests bench tools examples \
    -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' | sort)
clang-format --dry-run --Werror "${sources[@]}"
mapfile -t c_sources < <(printf '%s\n' "${sources[@]}" | grep '\.c$')
cppcheck --enable=warning,style,performance,portability --std=c11 --inline-suppr --quiet \
    --suppress=missingIncludeSystem --error-exitcode=1 \
    -I include -I src -I "$BUILD/src" "${c_sources[@]}"
echo "lint: clang-format and cppcheck clean over ${#sources[@]} files"
