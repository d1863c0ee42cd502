#!/usr/bin/env bash
# Installs what Surge needs to build and test on Debian 12, from Debian's
# archive only. Safe to run again: skips when everything is present.
set -euo pipefail
PKGS="build-essential cmake pkg-config libssl-dev openssl liblz4-dev libzstd-dev libxxhash-dev liburing-dev clang-format redis-server redis-tools python3 python3-redis python3-pytest util-linux procps prometheus curl memcached gnuplot-nox"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "surge: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian's redis-server package may start a system service; Surge's tests
# start their own reference servers on free ports, so it is not needed.
if command -v service >/dev/null 2>&1 && pgrep -x redis-server >/dev/null 2>&1; then
    if [ -f /etc/init.d/redis-server ]; then service redis-server stop >/dev/null 2>&1 || true; fi
fi
