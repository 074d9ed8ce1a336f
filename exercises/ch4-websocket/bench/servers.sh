#!/bin/bash
# servers.sh -- echosvr_ws (ws_conn + md, WebSocket) against echosvr_v5
# (io_conn + md, raw TCP): the same load client (bench/wsbench, with -r
# for raw TCP), the same payload, the same run.
#
# usage: bench/servers.sh [SECONDS] [SIZE]   (from exercises/ch4-websocket/
#                                             once it passes; defaults 5, 64)
# For 1 and 100 connections it prints messages/s, latency percentiles
# and the servers' CPU time per message (user + system of the launcher
# and its children, from /proc), in ROUNDS interleaved rounds (default
# 3), then the ratio of the median rates. The figures move with whatever
# else runs on the machine; the ratio, measured in the same run, less so.
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
trap 'echo "servers.sh: line $LINENO: $BASH_COMMAND failed" >&2' ERR

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
    local rc=0
    kill -TERM "$server_pid"
    wait "$server_pid" || rc=$?
    server_pid=
    [ $rc -eq 0 ] || { echo "servers.sh: the server exited $rc:" >&2
                       cat "$tmp/err" >&2; exit 1; }
}

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

hz=$(getconf CLK_TCK)
rounds=${ROUNDS:-3}
printf 'wsbench: %s B messages, %s s a point, %s interleaved rounds, on %s (%s cores), load %s\n\n' \
    "$size" "$secs" "$rounds" "$(uname -n)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-11s %6s %11s %8s %8s %8s %12s\n' round server conns msgs/s \
    p50_us p99_us p999_us cpu_us/msg
declare -A rate
# Rounds interleave the servers (v5, ws, v5, ws, ...) so that a burst of
# load elsewhere on the machine hits both; the ratio uses the medians.
for conns in 1 100; do
    for round in $(seq "$rounds"); do
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
            r=$(field msgs_per_s "$line")
            rate[$name.$conns]+="$r "
            printf '%-5s %-11s %6s %11s %8s %8s %8s %12.2f\n' "$round" \
                $name "$conns" "$r" "$(field p50_us "$line")" \
                "$(field p99_us "$line")" "$(field p999_us "$line")" \
                "$(awk "BEGIN { print ($after - $before) * 1e6 / $hz / $msgs }")"
        done
    done
done
echo
# median MSGS...: the middle figure (the mean of the two middle ones).
median() { tr ' ' '\n' | sed '/^$/d' | sort -g |
    awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for conns in 1 100; do
    ws_med=$(median <<<"${rate[echosvr_ws.$conns]}")
    v5_med=$(median <<<"${rate[echosvr_v5.$conns]}")
    printf 'median msgs/s at %3s connections: echosvr_ws %s, echosvr_v5 %s; ratio %.2f (target 0.8)\n' \
        "$conns" "$ws_med" "$v5_med" "$(awk "BEGIN { print $ws_med / $v5_med }")"
done
