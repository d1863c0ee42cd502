#!/usr/bin/env bash
# Builds Surge. Usage: scripts/build.sh [release|debug|asan]   (default release)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-release}"
case "$mode" in
    release) dir=build; args=(-DCMAKE_BUILD_TYPE=Release) ;;
    debug) dir=build-debug; args=(-DCMAKE_BUILD_TYPE=Debug) ;;
    asan) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DSURGE_SANITIZE=ON) ;;
    *) echo "usage: $0 [release|debug|asan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
