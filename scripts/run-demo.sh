#!/usr/bin/env bash
# run-demo.sh — installs what is missing, builds optkern and runs the main job:
# `optkern info`, then `optkern demo` (every capability end to end) on the best backend
# available.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
optk_install_missing
optk_build
"$OPTK_BUILD/bin/optkern" info
"$OPTK_BUILD/bin/optkern" demo
