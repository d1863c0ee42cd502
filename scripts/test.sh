#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install, build, run every test.
#   unit tests (C) in a release and an ASan+UBSan build,
#   integration tests (pytest + redis-py, differential against Debian's
#   redis-server) against the release build, and the protocol/hostile-input
#   tests again against the sanitizer build.
# Set SURGE_LONG=1 for the long variants (more differential commands), and
# FUZZ_SECONDS=600 for long fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
echo "== format (.clang-format)"
clang-format --dry-run --Werror src/*/*.c src/*/*.h
scripts/build.sh release
scripts/build.sh asan
PY=/usr/bin/python3
echo "== unit tests (release)"
ctest --test-dir build --output-on-failure
echo "== unit tests (asan+ubsan)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure
if [ "${SURGE_LONG:-0}" = 1 ]; then export DIFF_COUNT="${DIFF_COUNT:-30000}"; fi
echo "== integration tests (release build)"
SURGE_SERVER="$PWD/build/surge-server" $PY -m pytest tests/integration -q -p no:cacheprovider
echo "== protocol, hostile-input, data-type and persistence tests (asan+ubsan build, leak checks on)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
    SURGE_SERVER="$PWD/build-asan/surge-server" \
    $PY -m pytest tests/integration/test_protocol.py tests/integration/test_hostile.py \
    tests/integration/test_strings_keys.py tests/integration/test_multi_pubsub.py \
    tests/integration/test_hash.py tests/integration/test_list.py tests/integration/test_set.py \
    tests/integration/test_zset.py tests/integration/test_bitops.py tests/integration/test_hll.py \
    tests/integration/test_snapshot.py tests/integration/test_loading.py \
    tests/integration/test_encryption.py tests/integration/test_dump.py \
    tests/integration/test_netio.py \
    -q -p no:cacheprovider
echo "== fuzz targets: replay the corpus, then fuzz each (FUZZ_SECONDS, default 40)"
FUZZ_SECONDS="${FUZZ_SECONDS:-40}" scripts/fuzz.sh
echo "== all tests passed"
