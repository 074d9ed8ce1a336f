#!/bin/bash
# servers.sh -- echosvr_ws (ws_conn + md, WebSocket) against echosvr_v5
# (io_conn + md, raw TCP): the same load client (bench/wsbench, with -r
# for raw TCP), the same payload, the same run.
#
# usage: bench/servers.sh [SECONDS] [SIZE]   (from exercises/ch4-websocket/
#                                             once it passes; defaults 5, 64)
# For 1 and 100 connections it prints messages/s, latency percentiles,
# and the servers' CPU time per message (user + system of the launcher
# and its children, from /proc). Run it on a quiet machine: the figures
# move with whatever else is running.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
size=${2:-64}
client=./bench/wsbench
v5=../../ch4-mq/echosvr_v5
ws=./echosvr_ws
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
printf 'wsbench PORT %s CONNS %s, on %s (%s cores)\n\n' "$size" "$secs" \
    "$(uname -n)" "$(nproc)"
printf '%-11s %6s %11s %8s %8s %8s %12s\n' server conns msgs/s p50_us \
    p99_us p999_us cpu_us/msg
declare -A rate
for conns in 1 100; do
    for name in echosvr_v5 echosvr_ws; do
        if [ $name = echosvr_v5 ]; then
            start "$v5"
            mode=-r
        else
            start "$ws"
            mode=
        fi
        before=$(cpu_ticks "$server_pid")
        line=$("$client" -m $mode "$port" "$size" "$conns" "$secs")
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
for conns in 1 100; do
    printf 'echosvr_ws / echosvr_v5 at %3s connections: %.2f (target 0.8)\n' \
        "$conns" "$(awk "BEGIN { print ${rate[echosvr_ws.$conns]} / \
                                       ${rate[echosvr_v5.$conns]} }")"
done
