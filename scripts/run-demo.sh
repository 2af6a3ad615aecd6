#!/usr/bin/env bash
# run-demo.sh — installs what is missing, builds optkern and runs the main job:
# `optkern info` and the AdamW benchmark on the best backend available.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
optk_install_missing
optk_build
"$OPTK_BUILD/bin/optkern" info
"$OPTK_BUILD/bin/optkern" bench adamw
