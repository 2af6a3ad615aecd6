#!/usr/bin/env bash
# check.sh BUILD_DIR SOURCE_DIR — installs the build into a scratch prefix, then builds and
# runs consumers through find_package (shared and static) and through pkg-config.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"
"$work/cmake/consumer_static"
export PKG_CONFIG_PATH=$(dirname "$(find "$work/prefix" -name optkern.pc)")
cc -std=c11 "$src/tests/consumer/consumer.c" $(pkg-config --cflags --libs optkern) \
   -Wl,-rpath,"$work/prefix/lib" -o "$work/pc_consumer"
"$work/pc_consumer"
