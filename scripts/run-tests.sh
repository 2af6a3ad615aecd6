#!/usr/bin/env bash
# run-tests.sh — installs what is missing, builds optkern (with the CUDA backend whenever a
# CUDA toolkit is present) and runs the whole test suite. CUDA tests skip, saying why, on a
# machine without a GPU.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
optk_install_missing
optk_build
cd "$OPTK_BUILD"
ctest --output-on-failure -j "$(nproc)"
