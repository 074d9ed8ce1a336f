#!/bin/bash
# profile.sh -- run an echo server under load and print its top functions.
# usage: profile.sh gperftools|perf SERVER [SERVER-ARGS...]
#
# gperftools: SERVER must be linked with libprofiler (common/profile.mk
# does it); CPUPROFILE makes it sample itself, pprof prints the report.
# perf: the server runs under `perf record`. Either way only CPU time is
# sampled: time spent waiting in epoll_wait() does not count.
#
# The load: ch4-shm-stats/client_v4 when that chapter exists (arguments in
# PROFILE_CLIENT_ARGS), otherwise PROFILE_CLIENTS copies of ch3-echo's
# client_v1 in parallel, each echoing 64-byte lines one at a time.
# PROFILE_SECONDS (default 5) bounds the run.
set -euo pipefail

mode=${1:?usage: profile.sh gperftools|perf SERVER [ARGS...]}
server=${2:?usage: profile.sh gperftools|perf SERVER [ARGS...]}
shift 2
TOP=$(cd "$(dirname "$0")/.." && pwd)
seconds=${PROFILE_SECONDS:-5}
clients=${PROFILE_CLIENTS:-2}
tmp=$(mktemp -d)
server_pid=
cleanup() {
    [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

case $mode in
gperftools)
    pprof=$(command -v google-pprof || command -v pprof || true)
    [ -n "$pprof" ] || { echo "profile.sh: no pprof or google-pprof" >&2; exit 1; }
    CPUPROFILE=$tmp/cpu.prof CPUPROFILE_FREQUENCY=1000 \
        "$server" -p 0 -q "$@" >"$tmp/out" 2>"$tmp/err" &
    ;;
perf)
    command -v perf >/dev/null ||
        { echo "profile.sh: neither gperftools nor perf is installed;" \
            "run make deps (as root) for gperftools" >&2; exit 1; }
    perf record -q -F 999 -g -o "$tmp/perf.data" -- \
        "$server" -p 0 -q "$@" >"$tmp/out" 2>"$tmp/err" &
    ;;
*) echo "profile.sh: unknown profiler '$mode'" >&2; exit 2 ;;
esac
runner_pid=$! # the server, or perf running it
server_pid=$runner_pid

for _ in $(seq 100); do
    grep -q '^listening on ' "$tmp/out" 2>/dev/null && break
    sleep 0.05
done
# Under perf the server is perf's child: stop that one, and perf follows.
if [ "$mode" = perf ]; then
    server_pid=$(pgrep -P "$runner_pid" | head -n 1)
fi
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$port" ] || { cat "$tmp/err" >&2; echo "profile.sh: the server did not start" >&2; exit 1; }

client_v4=$TOP/ch4-shm-stats/client_v4
start=$(date +%s%N)
if [ -x "$client_v4" ]; then
    echo "load: client_v4 -p $port ${PROFILE_CLIENT_ARGS:-} for up to ${seconds}s"
    # shellcheck disable=SC2086 # the arguments are words on purpose
    timeout -s INT "$seconds" "$client_v4" -p "$port" ${PROFILE_CLIENT_ARGS:-} \
        >"$tmp/load" 2>&1 || true
    tail -n 5 "$tmp/load"
else
    echo "load: $clients x client_v1, 64-byte lines one at a time, ${seconds}s"
    awk 'BEGIN { for (i = 0; i < 2000000; i++)
        print "the quick brown fox jumps over the lazy dog, 64 bytes a line." }' \
        >"$tmp/lines"
    for i in $(seq "$clients"); do
        timeout -s TERM "$seconds" "$TOP/ch3-echo/client_v1" -p "$port" \
            <"$tmp/lines" >"$tmp/echo.$i" 2>/dev/null &
    done
    # shellcheck disable=SC2046 # one word per client
    wait $(jobs -p | grep -v "^$runner_pid\$") 2>/dev/null || true
    cat "$tmp"/echo.* | wc -l | awk -v t0="$start" -v t1="$(date +%s%N)" '{
        s = (t1 - t0) / 1e9
        printf "echoed %d lines in %.1f s: %.0f round trips per second\n",
            $1, s, $1 / s }'
fi

kill -TERM "$server_pid"
wait "$runner_pid" || { echo "profile.sh: the server exited with $?" >&2; exit 1; }
server_pid=

echo
case $mode in
gperftools)
    # Columns: samples in the function itself, their share, the running
    # share, then samples including callees and their share.
    "$pprof" --text --nodecount=15 "$server" "$tmp/cpu.prof" 2>/dev/null
    ;;
perf)
    perf report -i "$tmp/perf.data" --stdio --no-children --sort symbol \
        -g none --percent-limit 1 2>/dev/null | grep -Ev '^(#|$)' | head -n 20
    ;;
esac
