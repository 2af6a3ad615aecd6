# common.sh — what the run-*.sh scripts share: installing what is missing, configuring and
# building. Sourced, not run.
set -euo pipefail

OPTK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OPTK_BUILD=${OPTK_BUILD:-$OPTK_ROOT/build}

# Debian/Ubuntu packages the build and the tests need. nvcc is not installed here: the CUDA
# backend is built when a CUDA toolkit is present (/usr/local/cuda or on PATH).
optk_install_missing() {
    local wanted=(cmake make gcc g++ pkg-config libcriterion-dev) missing=()
    for pkg in "${wanted[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

optk_build() {
    if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
        export PATH=/usr/local/cuda/bin:$PATH
    fi
    echo "== configuring in $OPTK_BUILD"
    cmake -S "$OPTK_ROOT" -B "$OPTK_BUILD" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
    echo "== building"
    cmake --build "$OPTK_BUILD" -j "$(nproc)"
}
