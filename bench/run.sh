#!/usr/bin/env bash
# Surge vs Redis benchmark: throughput, server CPU per request, memory per key.
# See bench/README.md for what is measured and how to read the output.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
LIB="$BENCH_DIR/lib"

# ---------------------------------------------------------------- settings --
PY=${BENCH_PYTHON:-/usr/bin/python3}
SURGE_SERVER=${SURGE_SERVER:-$REPO_ROOT/build/surge-server}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
SURGE_EXTRA_ARGS=${SURGE_EXTRA_ARGS:-}   # word-split, appended to Surge's args

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    N_DEFAULT=10000; MEM_KEYS_DEFAULT=100000; ROUNDS_DEFAULT=1
else
    N_DEFAULT=200000; MEM_KEYS_DEFAULT=1000000; ROUNDS_DEFAULT=3
fi
N=${BENCH_N:-$N_DEFAULT}                          # requests per run, pipeline 1
N_PIPE=${BENCH_N_PIPELINE:-$((N * 5))}            # requests per run, pipeline > 1
CLIENTS=${BENCH_CLIENTS:-50}
DATA_SIZE=${BENCH_DATA_SIZE:-16}
KEYSPACE=${BENCH_KEYSPACE:-100000}
TESTS=${BENCH_TESTS:-set get incr mset}
PIPELINES=${BENCH_PIPELINES:-1 16}
ROUNDS=${BENCH_ROUNDS:-$ROUNDS_DEFAULT}
MEM_KEYS=${BENCH_MEM_KEYS:-$MEM_KEYS_DEFAULT}     # 0 skips the memory phase
MEM_FRESH=${BENCH_MEM_FRESH:-1}                   # restart servers before memory phase
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
RUN_TIMEOUT=${BENCH_TIMEOUT:-600}                 # seconds per redis-benchmark / --pipe run
OUT_DIR=${BENCH_OUT_DIR:-$BENCH_DIR/results}
KEEP_TMP=${BENCH_KEEP_TMP:-0}

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for v in N N_PIPE CLIENTS DATA_SIZE KEYSPACE ROUNDS MEM_KEYS SERVER_CPU CLIENT_CPU RUN_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
(( N > 0 && N_PIPE > 0 && ROUNDS > 0 )) || die "BENCH_N, BENCH_N_PIPELINE and BENCH_ROUNDS must be > 0"
for t in $TESTS; do
    case $t in set|get|incr|mset) ;; *) die "unsupported test '$t' (set get incr mset)";; esac
done

for tool in redis-benchmark redis-cli taskset timeout getconf; do
    command -v "$tool" >/dev/null || die "'$tool' not found in PATH"
done
[[ -x $PY ]] || die "python not found at $PY (set BENCH_PYTHON)"
[[ -x $SURGE_SERVER ]] || die "Surge binary '$SURGE_SERVER' not found or not executable.
  Build it first, or set SURGE_SERVER. To validate this script without Surge:
  SURGE_SERVER=/usr/bin/redis-server BENCH_QUICK=1 bench/run.sh"
[[ -x $REDIS_SERVER ]] || die "redis-server not found at '$REDIS_SERVER' (set REDIS_SERVER)"
taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot pin to CPU $SERVER_CPU (BENCH_SERVER_CPU)"
taskset -c "$CLIENT_CPU" true 2>/dev/null || die "cannot pin to CPU $CLIENT_CPU (BENCH_CLIENT_CPU)"
[[ $SERVER_CPU != "$CLIENT_CPU" ]] || log "warning: server and client pinned to the same CPU $SERVER_CPU"

CLK_TCK=$(getconf CLK_TCK)
[[ $CLK_TCK =~ ^[0-9]+$ && $CLK_TCK -gt 0 ]] || die "bad CLK_TCK '$CLK_TCK'"

# Surge gets exactly the spec'd args. When pointed at redis-server for
# validation, also turn off persistence so both servers are configured alike.
SURGE_ARGS=()
if [[ $(basename "$SURGE_SERVER") == redis-server* ]]; then
    SURGE_ARGS+=(--save "" --appendonly no)
fi
# shellcheck disable=SC2206
SURGE_ARGS+=($SURGE_EXTRA_ARGS)

# ------------------------------------------------------------- lifecycle --
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-bench.XXXXXX")
declare -A PID=() PORT=()
read -r free1 free2 < <("$PY" "$LIB/benchlib.py" free-ports 2)
PORT[surge]=${SURGE_PORT:-$free1}
PORT[redis]=${REDIS_PORT:-$free2}

stop_server() {   # name
    local name=$1 pid=${PID[$1]:-} i
    [[ -n $pid ]] || return 0
    PID[$name]=
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIGTERM for 10s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server surge
    stop_server redis
    if [[ $rc -ne 0 || $KEEP_TMP == 1 ]]; then
        log "exit status $rc; server logs and raw output kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cli() {   # name args...  (bounded, so a wedged server cannot hang us)
    local name=$1; shift
    timeout 30 redis-cli -h 127.0.0.1 -p "${PORT[$name]}" "$@"
}

alive() {  # running and not a zombie
    local s
    s=$(cat "/proc/${PID[$1]}/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [[ ${s:0:1} != [ZX] ]]
}

require_alive() {
    alive "$1" || die "$1 (pid ${PID[$1]}) is not running; see $WORK/$1.log (tail below)
$(tail -n 20 "$WORK/$1.log" 2>/dev/null)"
}

start_server() {  # name
    local name=$1 dir="$WORK/$1-data.$RANDOM" i
    mkdir -p "$dir"
    if timeout 2 redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping >/dev/null 2>&1; then
        die "port ${PORT[$name]} for $name is already in use"
    fi
    # taskset execs the server, so $! is the server's own PID.
    if [[ $name == surge ]]; then
        taskset -c "$SERVER_CPU" "$SURGE_SERVER" --port "${PORT[surge]}" --bind 127.0.0.1 \
            --dir "$dir" "${SURGE_ARGS[@]}" >>"$WORK/surge.log" 2>&1 &
    else
        taskset -c "$SERVER_CPU" "$REDIS_SERVER" --port "${PORT[redis]}" --bind 127.0.0.1 \
            --dir "$dir" --save "" --appendonly no >>"$WORK/redis.log" 2>&1 &
    fi
    PID[$name]=$!
    for ((i = 0; i < 100; i++)); do
        require_alive "$name"
        if [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping 2>/dev/null) == PONG ]]; then
            log "started $name: pid ${PID[$name]}, port ${PORT[$name]}, cpu $SERVER_CPU"
            return 0
        fi
        sleep 0.1
    done
    die "$name did not answer PING within 10s; see $WORK/$name.log"
}

flushall() {  # name
    local r
    r=$(cli "$1" flushall 2>&1) || die "FLUSHALL on $1 failed: $r"
    [[ $r == OK ]] || die "FLUSHALL on $1 returned '$r'"
}

# "utime stime" in clock ticks, fields 14 and 15 of /proc/PID/stat (whole
# process, all threads). Fields are counted after the last ')' because the
# comm field (2) may contain spaces.
cpu_ticks() {
    local s f
    s=$(<"/proc/$1/stat")
    s=${s##*) }
    read -r -a f <<<"$s"
    echo "${f[11]} ${f[12]}"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

used_memory() {  # name -> bytes or "na"
    local v
    v=$(cli "$1" info memory 2>/dev/null | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }') || true
    [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo na
}

dbsize() {
    local v
    v=$(cli "$1" dbsize 2>/dev/null | tr -d '\r') || true
    [[ $v =~ ^[0-9]+$ ]] && echo "$v" || echo na
}

# ------------------------------------------------------------ benchmarks --
RESULTS="$WORK/results.tsv"
MEM="$WORK/mem.tsv"
META="$WORK/meta.tsv"
: >"$RESULTS"

# One redis-benchmark run against one server; appends a line to $RESULTS.
# The argument list is built in one place so both servers get identical args.
bench_one() {  # round name test pipeline n
    local round=$1 name=$2 test=$3 pipe=$4 n=$5
    local tag="r${round}-${test}-P${pipe}-${name}" rc=0 u0 s0 u1 s1 rps
    local args=(-h 127.0.0.1 -p "${PORT[$name]}" -n "$n" -c "$CLIENTS" -d "$DATA_SIZE"
                -r "$KEYSPACE" -P "$pipe" -t "$test" --csv)
    require_alive "$name"
    read -r u0 s0 < <(cpu_ticks "${PID[$name]}")
    timeout --foreground "$RUN_TIMEOUT" taskset -c "$CLIENT_CPU" redis-benchmark "${args[@]}" \
        >"$WORK/$tag.csv" 2>"$WORK/$tag.err" || rc=$?
    require_alive "$name"
    read -r u1 s1 < <(cpu_ticks "${PID[$name]}")
    if [[ $rc -ne 0 ]]; then
        [[ $rc -eq 124 ]] && log "redis-benchmark timed out after ${RUN_TIMEOUT}s"
        die "redis-benchmark ${args[*]} exited with status $rc against $name:
$(tail -c 2000 "$WORK/$tag.err")"
    fi
    rps=$("$PY" "$LIB/benchlib.py" parse-csv "$WORK/$tag.csv" "$test") ||
        die "could not parse redis-benchmark output for $tag: $(cat "$WORK/$tag.csv")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "${test^^}" "$pipe" "$name" "$n" \
        "$rps" "$((u1 - u0))" "$((s1 - s0))" >>"$RESULTS"
    printf 'bench: %-6s %-5s P%-3s %-6s %12s rps  %5d+%-5d ticks\n' "r$round" "${test^^}" \
        "$pipe" "$name" "$rps" "$((u1 - u0))" "$((s1 - s0))" >&2
}

start_server redis
start_server surge
flushall redis
flushall surge

DATE=$(date +%Y-%m-%d_%H%M%S)
{
    printf 'date\t%s\n' "$DATE"
    printf 'host\t%s, %s CPUs, %s\n' "$(uname -sr)" "$(nproc)" \
        "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    printf 'surge\t%s --port N --bind 127.0.0.1 --dir TMPDIR' "$SURGE_SERVER"
    (( ${#SURGE_ARGS[@]} == 0 )) || printf ' %q' "${SURGE_ARGS[@]}"
    printf '\n'
    printf 'redis\t%s --port M --bind 127.0.0.1 --dir TMPDIR2 --save "" --appendonly no (%s)\n' \
        "$REDIS_SERVER" "$("$REDIS_SERVER" --version 2>/dev/null | head -n1)"
    printf 'repo\t%s\n' "$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo 'no commits')"
    printf 'redis-benchmark\t-c %s -d %s -r %s, -n %s at P1, -n %s at P>1, %s round(s), tests: %s, pipelines: %s\n' \
        "$CLIENTS" "$DATA_SIZE" "$KEYSPACE" "$N" "$N_PIPE" "$ROUNDS" "$TESTS" "$PIPELINES"
    printf 'pinning\tservers on CPU %s, redis-benchmark/redis-cli on CPU %s\n' "$SERVER_CPU" "$CLIENT_CPU"
    printf 'memory\t%s keys, servers restarted before memory phase: %s\n' "$MEM_KEYS" \
        "$([[ $MEM_FRESH == 1 ]] && echo yes || echo no)"
} >"$META"

# Short untimed warm-up so neither server is measured cold.
for name in redis surge; do
    timeout --foreground "$RUN_TIMEOUT" taskset -c "$CLIENT_CPU" redis-benchmark -h 127.0.0.1 -p "${PORT[$name]}" \
        -n "$(( N < 20000 ? N : 20000 ))" -c "$CLIENTS" -d "$DATA_SIZE" -r "$KEYSPACE" \
        -t set,get --csv >/dev/null 2>"$WORK/warmup-$name.err" ||
        die "warm-up against $name failed: $(tail -c 2000 "$WORK/warmup-$name.err")"
done

# Alternate servers test by test; flip which goes first on every test and
# every round (ABBA order) so slow drift on the shared machine cancels out.
idx=0
for ((round = 1; round <= ROUNDS; round++)); do
    for pipe in $PIPELINES; do
        n=$([[ $pipe -gt 1 ]] && echo "$N_PIPE" || echo "$N")
        for test in $TESTS; do
            if (( (idx + round) % 2 == 1 )); then order=(redis surge); else order=(surge redis); fi
            for name in "${order[@]}"; do
                bench_one "$round" "$name" "$test" "$pipe" "$n"
            done
            idx=$((idx + 1))
        done
    done
done

# ---------------------------------------------------------------- memory --
if (( MEM_KEYS > 0 )); then
    log "generating RESP for $MEM_KEYS SETs"
    "$PY" "$LIB/gen_resp.py" "$MEM_KEYS" "$WORK/load.resp"
    if [[ $MEM_FRESH == 1 ]]; then
        # Fresh processes: the allocator has not yet retained pages from the
        # throughput phase, so the baseline is comparable between servers.
        stop_server redis; stop_server surge
        start_server redis; start_server surge
    fi
    : >"$MEM"
    for name in redis surge; do
        flushall "$name"
        sleep 1
        require_alive "$name"
        rss0=$(rss_kb "${PID[$name]}"); used0=$(used_memory "$name")
        out=$(timeout --foreground "$RUN_TIMEOUT" taskset -c "$CLIENT_CPU" redis-cli -h 127.0.0.1 \
              -p "${PORT[$name]}" --pipe <"$WORK/load.resp" 2>&1) ||
            die "redis-cli --pipe into $name failed: $out"
        [[ $out == *"errors: 0, replies: $MEM_KEYS"* ]] ||
            die "redis-cli --pipe into $name reported problems: $out"
        sleep 1
        require_alive "$name"
        rss1=$(rss_kb "${PID[$name]}"); used1=$(used_memory "$name"); dbs=$(dbsize "$name")
        [[ $dbs == na || $dbs == "$MEM_KEYS" ]] ||
            die "$name has $dbs keys after loading $MEM_KEYS"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$MEM_KEYS" "$rss0" "$rss1" \
            "$used0" "$used1" "$dbs" >>"$MEM"
        log "memory $name: RSS ${rss0} kB -> ${rss1} kB, used_memory $used0 -> $used1, dbsize $dbs"
    done
fi

# ---------------------------------------------------------------- report --
mkdir -p "$OUT_DIR"
REPORT="$OUT_DIR/report-$DATE.md"
"$PY" "$LIB/benchlib.py" report "$RESULTS" "$MEM" "$META" "$CLK_TCK" >"$WORK/report.md"
{
    cat "$WORK/report.md"
    echo "## Raw runs"
    echo
    echo '```'
    printf 'round\ttest\tpipeline\tserver\trequests\trps\tutime_ticks\tstime_ticks\n'
    cat "$RESULTS"
    echo '```'
} >"$REPORT"
echo
cat "$WORK/report.md"
echo
log "report written to $REPORT"
