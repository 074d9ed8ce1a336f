#!/bin/bash
# run.sh -- make bench: every benchmark of the course in one run, on one
# machine, each figure beside its baseline (bench/README.md).
#
# usage: bench/run.sh            (from the top directory, after make all)
#        QUICK=1 bench/run.sh    a smoke run of under a minute
# Knobs (environment): RESUME=1 (with OUT: finish a run that stopped),
# ROUNDS (3), SECONDS_PER (seconds per echo point),
# CONNS ("1 100 1000 10000"), SIZES ("64 1024"), IPC_ROUNDS (runs of
# mqbench and cachebench, ROUNDS), OUT (the results
# directory, default bench/results/<time>), FIGURES (a directory the
# charts are copied to as well, e.g. bench/figures).
#
# Writes OUT/echo.csv, OUT/mq.csv, OUT/cache.csv (one line per
# measurement), OUT/machine.txt, OUT/report.md (medians, spreads, ratios,
# targets) and, when gnuplot is installed, OUT/*.png. Each measured round holds
# /tmp/svrtut-bench.lock, so it never overlaps another benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

# QUICK: three rounds of one point (100 connections, 64 B, 1 s), one
# short run of mqbench and cachebench: the whole chain in under a minute
# on a quiet machine, with figures too short to quote.
if [ "${QUICK:-0}" = 1 ]; then
    : "${ROUNDS:=3}" "${SECONDS_PER:=1}" "${CONNS:=100}" "${SIZES:=64}"
    : "${IPC_ROUNDS:=1}"
    mq_args=(-n 100000 -r 1000)
    cache_args=(-n 100000 -o 1000000)
else
    : "${ROUNDS:=3}" "${SECONDS_PER:=3}" "${CONNS:=1 100 1000 10000}"
    : "${SIZES:=64 1024}"
    : "${IPC_ROUNDS:=$ROUNDS}"
    mq_args=(-n 1000000 -r 10000)
    cache_args=()
fi
stamp=$(date -u +%Y%m%d-%H%M%S)
OUT=${OUT:-bench/results/$stamp}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/svrtut-bench.XXXXXX")
LOCK=/tmp/svrtut-bench.lock
server_pid=

cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the servers -----------------------------------------------------------
# name|command (each gets -p 0; the two-process ones a private key and
# FIFO directory). In the report's order: baselines first.
servers=(
    "epoll_echo|bench/epoll_echo"
    "bev_echo|bench/bev_echo"
    "echosvr_fast|ch3-echo/echosvr_fast -q"
    "echosvr_v1|ch3-echo/echosvr_v1 -q"
)
# The select/poll exercise's reference answer, built outside the exercise
# directory (which holds the learner's copy); a student's copy of the
# course has none, and runs without it.
if [ -f solutions/ch3-select-echo/echosvr_select.c ]; then
    sel=$tmp/select
    mkdir -p "$sel"
    cp exercises/ch3-select-echo/Makefile \
        solutions/ch3-select-echo/echosvr_select.c "$sel/"
    make -s -C "$sel" TOP="$top" >/dev/null
    servers+=("echosvr_select|$sel/echosvr_select -q")
fi
servers+=(
    "echosvr_v5|ch4-mq/echosvr_v5 -q -k KEY -d $tmp"
    "echosvr_v6|ch5-cache/echosvr_v6 -q -k KEY -d $tmp"
)
client=ch4-shm-stats/client_v4
for s in "${servers[@]}"; do
    bin=${s#*|}
    bin=${bin%% *}
    [ -x "$bin" ] || { echo "run.sh: $bin is missing: make all" >&2; exit 1; }
done

# --- limits ----------------------------------------------------------------
# Each side of a connection is a descriptor: the client holds CONNS, the
# server CONNS (spread over io_conn for v5 and v6), plus a few.
hard=$(ulimit -Hn)
ulimit -n "$hard"
max_conns=0
for n in $CONNS; do [ "$n" -gt "$max_conns" ] && max_conns=$n; done
limit_note=
if [ "$hard" != unlimited ] && [ "$hard" -lt $((max_conns + 64)) ]; then
    limit_note="open-file hard limit $hard is below $((max_conns + 64)): points above $((hard - 64)) connections are left out (raise it with ulimit -Hn as root, or nofile in /etc/security/limits.conf)"
    echo "run.sh: $limit_note" >&2
fi
ports=$(awk '{ print $2 - $1 + 1 }' /proc/sys/net/ipv4/ip_local_port_range)
if [ "$ports" -lt "$max_conns" ]; then
    echo "run.sh: only $ports local ports (net.ipv4.ip_local_port_range)" \
         "for $max_conns connections" >&2
fi

# --- one measurement --------------------------------------------------------
# CPU ticks (utime + stime) of a process and all its descendants.
cpu_ticks() {
    local total=0 p
    for p in $(descendants "$1"); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' \
                               "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
descendants() {
    local p
    echo "$1"
    for p in $(pgrep -P "$1" || true); do descendants "$p"; done
}

# Start COMMAND -p 0 and wait (up to 30 s: a loaded machine) for its
# "listening on" line; sets server_pid and port. 1, with the reason in
# $tmp/why, if it does not come.
start_server() {
    local deadline=$((SECONDS + 30)) rc
    "$@" -p 0 >"$tmp/out" 2>"$tmp/err" 9>&- &
    server_pid=$!
    port=
    while [ $SECONDS -lt $deadline ]; do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
        [ -n "$port" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.01
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "no 'listening on' line within 30 s" >"$tmp/why"
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    else
        wait "$server_pid" && rc=0 || rc=$?
        echo "exited with status $rc before listening" >"$tmp/why"
    fi
    server_pid=
    tail -n 3 "$tmp/err" | sed 's/^/    /' >>"$tmp/why"
    return 1
}

# SIGTERM the server; 1, with the reason in $tmp/why, unless it exits 0.
stop_server() {
    local rc=0
    kill -TERM "$server_pid"
    wait "$server_pid" || rc=$?
    server_pid=
    if [ "$rc" -ne 0 ]; then
        echo "exited with status $rc after SIGTERM" >"$tmp/why"
        tail -n 3 "$tmp/err" | sed 's/^/    /' >>"$tmp/why"
        return 1
    fi
}

# The shared lock on fd 9 (flock(1)'s fd form; the programs started
# under it get 9>&-, so none of them keeps it after we let go). The time
# spent waiting for it is counted apart: it is others' benchmarks.
lock_wait=0
lock() {
    local t=$EPOCHREALTIME
    exec 9>"$LOCK"
    flock 9
    lock_wait=$(awk -v a="$lock_wait" -v t0="$t" -v t1="$EPOCHREALTIME" \
        'BEGIN { print a + t1 - t0 }')
}
unlock() { exec 9>&-; }

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

hz=$(getconf CLK_TCK)
key_base=$(((0x5b000000 | ($$ & 0xffff) << 8)))

# One echo point: server NAME at CONNS connections, SIZE bytes, round R;
# one CSV line. The lock is held from the server's start to its stop.
# 1, with the reason in $tmp/why, when the server or the client fails.
echo_point() {
    local name=$1 cmd=$2 conns=$3 size=$4 round=$5 before after line ok=0
    cmd=${cmd//KEY/$(printf '%#x' $((key_base + RANDOM % 256 * 16)))}
    lock
    # shellcheck disable=SC2086 # the command is words
    if start_server $cmd; then
        before=$(cpu_ticks "$server_pid")
        if line=$("$client" -m "$port" "$size" "$conns" "$SECONDS_PER" \
                  2>"$tmp/cerr" 9>&-); then
            ok=1
        fi
        after=$(cpu_ticks "$server_pid")
        if [ $ok = 0 ]; then
            stop_server || true
            { echo "client_v4 failed:"; tail -n 3 "$tmp/cerr" |
                sed 's/^/    /'; } >"$tmp/why"
        elif ! stop_server; then
            ok=0
        fi
    fi
    unlock
    [ $ok = 1 ] || return 1
    printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$name" "$conns" "$size" \
        "$round" "$(field messages "$line")" "$(field msgs_per_s "$line")" \
        "$(field p50_us "$line")" "$(field p99_us "$line")" \
        "$(field p999_us "$line")" \
        "$(awk -v t=$((after - before)) -v hz="$hz" \
               -v n="$(field messages "$line")" \
               'BEGIN { printf "%.4f", t * 1e6 / hz / n }')" \
        >>"$OUT/echo.csv"
}

# A point that fails is tried once more; a second failure is written to
# OUT/errors.txt (the report lists it) and the run goes on.
measure() {
    local what="$1 at $3 connections, $4 B, round $5"
    grep -q "^$1,$3,$4,$5," "$OUT/echo.csv" && return 0 # RESUME=1
    echo_point "$@" && return 0
    echo "run.sh: $what: $(head -n 1 "$tmp/why"); once more" >&2
    echo_point "$@" && return 0
    { echo "$what:"; sed 's/^/    /' "$tmp/why"; } >>"$OUT/errors.txt"
    echo "run.sh: $what failed twice (errors.txt)" >&2
}

# --- the machine ------------------------------------------------------------
steal_ticks() { awk '/^cpu / { print $9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
t0=$SECONDS
read -r steal0 total0 < <(steal_ticks)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# RESUME=1 with the OUT of a run that stopped: measure only the points
# its echo.csv lacks; the durations add up.
prev_duration=0
if [ "${RESUME:-0}" = 1 ] && [ -s "$OUT/echo.csv" ]; then
    prev_duration=$(sed -n 's/^duration_s=//p' "$OUT/machine.txt" | tail -n 1)
    prev_duration=${prev_duration:-0}
    prev_wait=$(sed -n 's/^lock_wait_s=//p' "$OUT/machine.txt" | tail -n 1)
    lock_wait=${prev_wait:-0}
    echo "resumed=$(date -u '+%Y-%m-%d %H:%M UTC'), load $load0" \
        >>"$OUT/machine.txt"
else
    rm -f "$OUT/errors.txt"
    echo "server,conns,size,round,messages,msgs_per_s,p50_us,p99_us,p999_us,cpu_us_per_msg" \
        >"$OUT/echo.csv"
{
    echo "host=$(uname -n)"
    echo "kernel=$(uname -r)"
    echo "cpus=$(nproc)"
    echo "cpu_model=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "started=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "load_start=$load0"
    echo "quick=${QUICK:-0}"
    echo "rounds=$ROUNDS"
    echo "seconds_per_point=$SECONDS_PER"
    echo "conns=$CONNS"
    echo "sizes=$SIZES"
    echo "nofile=$(ulimit -n)"
    echo "limit_note=$limit_note"
} >"$OUT/machine.txt"
fi

# --- echo servers: rounds interleaved server by server ----------------------
npoints=0
for conns in $CONNS; do
    if [ "$hard" != unlimited ] && [ "$conns" -gt $((hard - 64)) ]; then
        continue
    fi
    for size in $SIZES; do
        for round in $(seq "$ROUNDS"); do
            for s in "${servers[@]}"; do
                measure "${s%%|*}" "${s#*|}" "$conns" "$size" "$round"
                npoints=$((npoints + 1))
            done
        done
        echo "echo servers: $conns connections, $size B: $ROUNDS rounds" \
             "($npoints measurements, $((SECONDS - t0)) s)" >&2
    done
done

# --- the queue against the ring, a pipe and a socket; pool and hash ----------
# Their tables are kept as printed (mq-ROUND.txt, cache-ROUND.txt);
# report.py turns them into mq.csv and cache.csv.
for round in $(seq "$IPC_ROUNDS"); do
    lock
    ch4-mq/bench/mqbench -k "$(printf '%#x' $((key_base + 0x80)))" -d "$tmp" \
        "${mq_args[@]}" 9>&- >"$OUT/mq-$round.txt" 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; exit 1; }
    ch5-cache/bench/cachebench -s "$round" "${cache_args[@]}" 9>&- \
        >"$OUT/cache-$round.txt" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    unlock
    echo "mqbench, cachebench: round $round of $IPC_ROUNDS" >&2
done

read -r steal1 total1 < <(steal_ticks)
{
    echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "steal_pct=$(awk -v s=$((steal1 - steal0)) -v t=$((total1 - total0)) \
        'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }')"
    echo "duration_s=$((prev_duration + SECONDS - t0))"
    echo "lock_wait_s=$(printf '%.0f' "$lock_wait")"
} >>"$OUT/machine.txt"

python3 bench/report.py "$OUT"
if [ -n "${FIGURES:-}" ] && ls "$OUT"/*.png >/dev/null 2>&1; then
    mkdir -p "$FIGURES"
    cp "$OUT"/*.png "$FIGURES/"
fi
ln -sfn "$(basename "$OUT")" "$(dirname "$OUT")/latest" 2>/dev/null || true
echo "report: $OUT/report.md ($((SECONDS - t0)) s, of which" \
     "$(printf '%.0f' "$lock_wait") s waiting for the lock)"
