#!/bin/bash
# servers.sh -- echosvr_v1 (one process) against echosvr_v5 (io_conn + md
# over shared-memory queues), same load client, same run.
#
# usage: bench/servers.sh [SECONDS] [SIZE]   (from ch4-mq/; defaults 5, 64)
# For 1, 100 and 1,000 connections it runs client_v4 against each server
# and prints messages/s, latency percentiles, and the servers' CPU time
# per message (user + system of every server process, from /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
size=${2:-64}
client=../ch4-shm-stats/client_v4
v1=../ch3-echo/echosvr_v1
v5=./echosvr_v5
tmp=$(mktemp -d /tmp/svrtut-bench.XXXXXX)
server_pid=

cleanup() {
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null &&
        wait "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# CPU ticks (utime + stime) of a process and its children still running.
cpu_ticks() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" || true); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' \
                           "/proc/$p/stat")))
    done
    echo "$total"
}

start() {
    "$@" -q -p 0 >"$tmp/out" 2>"$tmp/err" &
    server_pid=$!
    for _ in $(seq 200); do
        grep -q '^listening on ' "$tmp/out" && break
        sleep 0.05
    done
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] || { cat "$tmp/err" >&2; exit 1; }
}

stop() {
    kill -TERM "$server_pid"
    wait "$server_pid"
    server_pid=
}

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

hz=$(getconf CLK_TCK)
printf 'client_v4 PORT %s CONNS %s, on %s (%s cores)\n\n' "$size" "$secs" \
    "$(uname -n)" "$(nproc)"
printf '%-11s %6s %11s %8s %8s %8s %12s\n' server conns msgs/s p50_us \
    p99_us p999_us cpu_us/msg
declare -A rate
for conns in 1 100 1000; do
    for name in echosvr_v1 echosvr_v5; do
        if [ $name = echosvr_v1 ]; then start "$v1"; else start "$v5"; fi
        before=$(cpu_ticks "$server_pid")
        line=$("$client" -m "$port" "$size" "$conns" "$secs")
        after=$(cpu_ticks "$server_pid")
        stop
        msgs=$(field messages "$line")
        rate[$name.$conns]=$(field msgs_per_s "$line")
        printf '%-11s %6s %11s %8s %8s %8s %12.2f\n' $name "$conns" \
            "${rate[$name.$conns]}" "$(field p50_us "$line")" \
            "$(field p99_us "$line")" "$(field p999_us "$line")" \
            "$(awk "BEGIN { print ($after - $before) * 1e6 / $hz / $msgs }")"
    done
done
echo
for conns in 1 100 1000; do
    printf 'echosvr_v5 / echosvr_v1 at %4s connections: %.2f\n' "$conns" \
        "$(awk "BEGIN { print ${rate[echosvr_v5.$conns]} / \
                             ${rate[echosvr_v1.$conns]} }")"
done
