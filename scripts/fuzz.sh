#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in
# build-fuzz/, then for each target: replays its saved corpus, and fuzzes it
# for FUZZ_SECONDS. Exits nonzero if any target crashes, leaks, hangs or
# breaks one of its properties.
#
#   scripts/fuzz.sh                       every target, 10 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh      longer runs
#   scripts/fuzz.sh fuzz_resp fuzz_glob   only these targets
#   FUZZ_SAVE=1 scripts/fuzz.sh           merge new interesting inputs into
#                                         tests/fuzz/corpus/<target>/
#   FUZZ_JOBS=N                           parallel fuzzing processes per target (1)
#
# Fuzzing works on a scratch copy of each corpus, so the repository stays
# clean unless FUZZ_SAVE=1. Crashing inputs are written to
# build-fuzz/artifacts/<target>/ and the script prints how to replay them;
# see tests/fuzz/README.md for turning one into a corpus file and a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
FUZZ_SAVE="${FUZZ_SAVE:-0}"
FUZZ_JOBS="${FUZZ_JOBS:-1}"
ALL_TARGETS="fuzz_resp fuzz_glob fuzz_numbers fuzz_config fuzz_getkeys fuzz_aof fuzz_acl fuzz_exec fuzz_restore fuzz_snapshot"
targets="${*:-$ALL_TARGETS}"
build="build-fuzz"

# clang and its runtimes (libFuzzer, ASan, UBSan) from Debian's archive.
PKGS="clang libclang-rt-14-dev cmake make"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "fuzz: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

echo "== configure and build ($build)"
CC=clang cmake -S . -B "$build" -DSURGE_FUZZ=ON -DSURGE_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets >/dev/null

# Sanitizer settings: every finding is fatal and comes with a stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Per-target libFuzzer flags. -timeout is per input: the parsers and the glob
# matcher promise bounded work, so a slow input is a finding.
target_flags() {
    case "$1" in
        fuzz_glob) echo "-timeout=5 -max_len=8192" ;;
        fuzz_resp) echo "-timeout=5 -max_len=8192" ;;
        fuzz_snapshot) echo "-timeout=5 -max_len=4096" ;;
        *) echo "-timeout=5" ;;
    esac
}

# Prints the inputs libFuzzer saved for a failure, with how to replay them.
list_artifacts() {
    local f
    for f in "$2"/*; do
        if [ -f "$f" ]; then echo "   input: $f   replay: $1 $f"; fi
    done
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=""
summary=""
for t in $targets; do
    bin="$build/fuzz/$t"
    corpus="tests/fuzz/corpus/$t"
    art="$build/artifacts/$t"
    log="$build/logs/$t.log"
    rm -rf "$art"
    mkdir -p "$art" "$build/logs" "$corpus"
    # shellcheck disable=SC2207
    flags=($(target_flags "$t"))
    start=$(date +%s)

    echo "== $t: replay $(find "$corpus" -type f | wc -l) corpus files"
    rlog="$build/logs/$t.replay.log"
    if ! "$bin" "${flags[@]}" -runs=0 -artifact_prefix="$art/" "$corpus" >"$rlog" 2>&1; then
        echo "!! $t: replaying the corpus failed (log: $rlog)"
        tail -n 40 "$rlog"
        list_artifacts "$bin" "$art"
        failed="$failed $t"
        continue
    fi

    echo "== $t: fuzz for ${FUZZ_SECONDS}s"
    work="$scratch/$t"
    mkdir -p "$work"
    cp -R "$corpus/." "$work/"
    jobflags=()
    if [ "$FUZZ_JOBS" -gt 1 ]; then jobflags=(-fork="$FUZZ_JOBS"); fi
    if ! "$bin" "${flags[@]}" "${jobflags[@]}" -max_total_time="$FUZZ_SECONDS" \
        -print_final_stats=1 -artifact_prefix="$art/" "$work" >"$log" 2>&1; then
        echo "!! $t: crashed (log: $log)"
        grep -E "^(==[0-9]+==ERROR|SUMMARY|fuzz_[a-z]+:|.*runtime error)" "$log" | head -n 5 || true
        tail -n 25 "$log"
        list_artifacts "$bin" "$art"
        failed="$failed $t"
        continue
    fi
    # "#N DONE cov: ..." in a single process, "#N: cov: ..." with -fork.
    stats=$(grep -E "^#[0-9]+(:|[[:space:]]+DONE)[[:space:]]" "$log" | tail -n 1 |
        sed -E 's/^#([0-9]+):?[[:space:]]+(DONE[[:space:]]+)?/\1 runs, /')
    if [ "$FUZZ_SAVE" = 1 ]; then
        before=$(find "$corpus" -type f | wc -l)
        "$bin" "${flags[@]}" -merge=1 "$corpus" "$work" >>"$log" 2>&1
        after=$(find "$corpus" -type f | wc -l)
        stats="$stats; saved $((after - before)) new inputs to $corpus"
    fi
    summary="$summary$(printf '%-13s %4ss  %s' "$t" "$(($(date +%s) - start))" "$stats")"$'\n'
done

echo "== summary"
printf '%s' "$summary"
if [ -n "$failed" ]; then
    echo "!! failed:$failed (artifacts under $root/$build/artifacts/)"
    exit 1
fi
echo "== all fuzz targets passed"
