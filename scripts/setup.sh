#!/usr/bin/env bash
# One command for a fresh Debian 12 machine: install what is needed, build,
# and start surge-server on 127.0.0.1:6379 (data and log in ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh release
port="${SURGE_PORT:-6379}"
if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "surge: something already answers on 127.0.0.1:$port; stop it first" >&2
    exit 1
fi
mkdir -p data
setsid nohup build/surge-server --port "$port" --dir "$PWD/data" --logfile "$PWD/data/surge.log" \
    --pidfile "$PWD/data/surge.pid" </dev/null >/dev/null 2>&1 &
for _ in $(seq 1 50); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
        echo "surge-server is running on 127.0.0.1:$port (pid $(cat data/surge.pid), log data/surge.log)"
        echo "try: redis-cli -p $port set hello world && redis-cli -p $port get hello"
        exit 0
    fi
    sleep 0.1
done
echo "surge: server did not start; see data/surge.log" >&2
exit 1
