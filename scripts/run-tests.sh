#!/usr/bin/env bash
# run-tests.sh — installs what is missing, builds optkern (with the CUDA backend whenever a
# CUDA toolkit is present) and runs the whole test suite. CUDA tests skip, saying why, on a
# machine without a GPU. Then the CPU backend again under AddressSanitizer and
# UndefinedBehaviorSanitizer, where an out-of-bounds access, a leak or undefined behaviour
# fails its test (OPTK_SANITIZE=0 skips that stage).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
optk_install_missing
optk_build
cd "$OPTK_BUILD"
ctest --output-on-failure -j "$(nproc)"

if [ "${OPTK_SANITIZE:-1}" != 0 ]; then
    flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    OPTK_BUILD=$OPTK_ROOT/build-sanitize
    optk_build -DOPTKERN_CUDA=OFF -DCMAKE_C_FLAGS="$flags" \
        -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags"
    cd "$OPTK_BUILD"
    # Not here: the lint (the same as above) and the installed-package consumers, which link
    # the sanitized library without the sanitizer runtime.
    ctest --output-on-failure -j "$(nproc)" -E 'lint_clang_format_and_cppcheck|installed_package_consumers'
fi
