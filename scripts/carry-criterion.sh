#!/usr/bin/env bash
# carry-criterion.sh — for a GPU machine without internet or Criterion: downloads Debian's
# Criterion packages and the libraries they need, and unpacks them (dpkg -x, no install)
# into the ignored folder .deps/criterion. scripts/device-check.sh finds them there.
# Run here, where apt works; then carry .deps/criterion with the sources.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/.deps/criterion
PACKAGES=(libcriterion-dev libcriterion3 libnanomsg5 libgit2-1.5 libhttp-parser2.9
          libmbedcrypto7 libmbedtls14 libmbedx509-1 libssh2-1 libffi8)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
apt-get update -qq >/dev/null 2>&1 || true
(cd "$work" && apt-get download "${PACKAGES[@]}" >/dev/null)
rm -rf "$DEST"
mkdir -p "$DEST"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$DEST"; done
echo "Criterion unpacked into $DEST ($(du -sh "$DEST" | cut -f1))"
