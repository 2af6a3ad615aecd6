#!/usr/bin/env bash
# device-check.sh OUTDIR [PHASE...] — everything a GPU session must check, on a machine with a
# GPU and no internet: build with CUDA, the whole test suite, compute-sanitizer (memcheck,
# racecheck, initcheck, synccheck) over every test program, optkern info and the benchmarks.
# PHASE: build, tests, sanitizer, bench, compare, report (default: all, in that order). One
# device call may run for at most 10 minutes: run the phases over several calls made while
# the machine is still warm (the build directory stays), e.g. `build tests`, then
# `sanitizer`, then `bench compare report`; a phase that finds no build builds first.
# Each compute-sanitizer run is limited to OPTK_SANITIZER_TIMEOUT seconds (default 60) and
# reported as "timed out" past it, so one slow program cannot use up the call; the phase starts
# no run after OPTK_SANITIZER_BUDGET seconds (default 420: the rest are logged as skipped), and
# OPTK_SANITIZER_TOOLS picks the tools (default: all four) — a later call can take the rest.
# Writes (at most eight files) into OUTDIR:
#   environment.txt  GPU, driver, toolkit, commit, date
#   build.log        configure and build
#   tests.log        every test program once with --verbose (skips say why), ctest for the
#                    other tests, optkern validate
#   sanitizer.log    the four compute-sanitizer tools over every test program
#   info.txt         optkern info
#   bench.jsonl      optkern bench --json (every op; rendered into report.md)
#   compare.jsonl    bench/compare_adamw_torch.py (PyTorch AdamW fused/foreach vs optkern) and
#                    bench/compare_sinkhorn_torch.py (batched PyTorch Sinkhorn vs optkern),
#                    bench/compare_es_torch.py (naive full-rank ES in PyTorch vs EGGROLL), and
#                    where POT is installed bench/compare_sinkhorn_pot.py (the CPU backend vs POT)
#   report.md        bench/render_results.py --no-plots over the two (plot them after fetching)
# Criterion: if .deps/criterion exists (scripts/carry-criterion.sh), it is used from there.
# Set OPTK_COMMIT to the commit when the sources travel without .git.
set -uo pipefail
OUT=${1:?usage: scripts/device-check.sh OUTDIR [build|tests|sanitizer|bench|compare|report]...}
shift
PHASES=${*:-build tests sanitizer bench compare report}
for phase in $PHASES; do
    case $phase in
    build | tests | sanitizer | bench | compare | report) ;;
    *) echo "device-check.sh: unknown phase '$phase'" >&2; exit 2 ;;
    esac
done
wants() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${OPTK_BUILD:-$ROOT/build-gpu}
cd "$ROOT"

CRIT=$ROOT/.deps/criterion
if [ -d "$CRIT" ]; then
    export Criterion_ROOT=$CRIT/usr
    export LD_LIBRARY_PATH=$CRIT/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo "${OPTK_COMMIT:-unknown}")"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
    nvcc --version | tail -2
    echo "compute-sanitizer: $(compute-sanitizer --version 2>/dev/null | tail -1)"
    echo "cmake: $(cmake --version | head -1)"
} >"$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"

status=0
build() {
    echo "== build"
    # For this machine's GPU's architecture alone, not the project's three (sm_80/89/90), to
    # save build time; OPTK_CUDA_ARCHS overrides, and without nvidia-smi the default stands.
    local archs=${OPTK_CUDA_ARCHS:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader \
        2>/dev/null | head -1 | tr -d '.[:space:]')}
    if ! { cmake -S "$ROOT" -B "$BUILD" -DOPTKERN_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
               ${archs:+-DCMAKE_CUDA_ARCHITECTURES=$archs} &&
           cmake --build "$BUILD" -j "$(nproc)"; } >"$OUT/build.log" 2>&1; then
        tail -30 "$OUT/build.log"
        echo "build failed"
        exit 1
    fi
}
if wants build || [ ! -x "$BUILD/bin/optkern" ]; then build; fi
tests=$(find "$BUILD/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort)

if wants tests; then
    echo "== tests"
    # Each test program once, verbose (so that every skip says why), its exit status kept;
    # then ctest for the rest (examples, the command's tests, consumers, lint), not the
    # programs again: device time is short.
    {
        failed=""
        for t in $tests; do
            echo "==== $t"
            "$t" --verbose 2>&1 || failed="$failed $(basename "$t")"
        done
        echo "==== test programs: $(echo "$tests" | wc -w) run, failed:${failed:- none}"
        [ -z "$failed" ] || status=1
        (cd "$BUILD" && ctest --output-on-failure -E '^test_') || status=1
        echo "==== optkern validate"
        "$BUILD/bin/optkern" validate || status=1
    } >"$OUT/tests.log" 2>&1
    grep -E "^==== test programs|tests passed|tests failed|^[0-9]+ passed" "$OUT/tests.log"
fi

if wants sanitizer; then
    echo "== compute-sanitizer"
    limit=${OPTK_SANITIZER_TIMEOUT:-60}
    budget=${OPTK_SANITIZER_BUDGET:-420}
    tools=${OPTK_SANITIZER_TOOLS:-memcheck racecheck initcheck synccheck}
    start=$SECONDS
    {
        for tool in $tools; do
            for t in $tests; do
                echo "==== $tool $(basename "$t")"
                if ((SECONDS - start > budget)); then
                    echo "skipped: the phase's $budget s are spent"
                    continue
                fi
                timeout "$limit" compute-sanitizer --tool "$tool" --target-processes all \
                    --error-exitcode 99 "$t" --jobs 1 2>&1 | tail -25
                code=${PIPESTATUS[0]}
                [ "$code" = 124 ] && echo "timed out after $limit s"
                echo "exit: $code"
            done
        done
    } >"$OUT/sanitizer.log" 2>&1
    grep -E "^==== |ERROR SUMMARY|^timed out|^skipped|^exit" "$OUT/sanitizer.log" | head -200
    grep -q "^exit: [^0]" "$OUT/sanitizer.log" && status=1
fi

if wants bench; then
    echo "== info and benchmarks"
    "$BUILD/bin/optkern" info >"$OUT/info.txt" 2>&1
    "$BUILD/bin/optkern" bench --backend cuda --json >"$OUT/bench.jsonl" 2>&1 || status=1
    cat "$OUT/info.txt"
fi

if wants compare; then
    echo "== PyTorch side by side"
    PYTHONUNBUFFERED=1 python3 "$ROOT/bench/compare_adamw_torch.py" --lib "$BUILD/src/liboptkern.so" \
        --device cuda --out "$OUT/compare.jsonl" || status=1
    PYTHONUNBUFFERED=1 python3 "$ROOT/bench/compare_sinkhorn_torch.py" --lib "$BUILD/src/liboptkern.so" \
        --device cuda --out "$OUT/compare_sinkhorn.tmp" || status=1
    PYTHONUNBUFFERED=1 python3 "$ROOT/bench/compare_es_torch.py" --lib "$BUILD/src/liboptkern.so" \
        --device cuda --out "$OUT/compare_es.tmp" || status=1
    if python3 -c "import ot" 2>/dev/null; then # POT on the host CPU: issue 5's CPU comparison
        PYTHONUNBUFFERED=1 python3 "$ROOT/bench/compare_sinkhorn_pot.py" --lib "$BUILD/src/liboptkern.so" \
            --out "$OUT/compare_pot.tmp" || status=1
    fi
    cat "$OUT/compare_sinkhorn.tmp" "$OUT/compare_es.tmp" "$OUT/compare_pot.tmp" >>"$OUT/compare.jsonl" \
        2>/dev/null
    rm -f "$OUT/compare_sinkhorn.tmp" "$OUT/compare_es.tmp" "$OUT/compare_pot.tmp"
fi

if wants report; then
    echo "== report"
    # Only the table: at most eight files come back from the device (plots are rendered here
    # after). The inputs are those this OUT holds: bench.jsonl, compare.jsonl where present.
    inputs=""
    for f in bench.jsonl compare.jsonl; do [ -s "$OUT/$f" ] && inputs="$inputs $OUT/$f"; done
    if [ -n "$inputs" ]; then
        # shellcheck disable=SC2086
        python3 "$ROOT/bench/render_results.py" --no-plots $inputs --out "$OUT/report" || status=1
        cat "$OUT/report.md"
    else
        echo "report: no bench.jsonl or compare.jsonl in $OUT (run bench/compare in this call)"
    fi
fi
exit $status
