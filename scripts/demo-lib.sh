# demo-lib.sh -- sourced by each chapter's demo.sh.
# start_server VAR CMD...: runs CMD in the background, waits for its
#   "listening on ADDR:PORT" line and stores the port in $VAR; what it
#   printed so far (stdout and stderr) is in the file $demo_server_out.
# Everything started is stopped (SIGTERM) when the demo exits, however
# it exits.
set -euo pipefail

demo_tmp=$(mktemp -d /tmp/svrtut-demo.XXXXXX)
demo_pids=()

demo_cleanup() {
    local pid
    for pid in "${demo_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${demo_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$demo_tmp"
}
trap demo_cleanup EXIT

. "$(dirname "${BASH_SOURCE[0]}")/colour.sh"
say() { printf '\n%s$ %s%s\n' "$cyan" "$*" "$plain"; }

start_server() {
    local var=$1 out i
    shift
    out="$demo_tmp/$(basename "$1").$$.$RANDOM"
    say "$*  &"
    "$@" >"$out" 2>&1 &
    demo_pids+=($!)
    for i in $(seq 100); do
        if grep -q '^listening on ' "$out"; then
            cat "$out"
            demo_server_out=$out
            printf -v "$var" '%s' "$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out" | head -1)"
            return 0
        fi
        sleep 0.05
    done
    echo "$1 did not start:" >&2
    cat "$out" >&2
    return 1
}

# stop_server: SIGTERM the most recent server and show its exit status.
stop_server() {
    local pid=${demo_pids[-1]} rc=0
    say "kill -TERM $pid"
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    echo "server exited with status $rc"
    unset 'demo_pids[-1]'
}

run() {
    say "$*"
    "$@"
}
