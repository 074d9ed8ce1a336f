#!/bin/bash
# run.sh -- the connection-scale benchmarks: c10k, c100k, c1m.
#
# usage: scale/run.sh c10k|c100k|c1m     (make bench-c10k ... in the top
#                                         directory runs it)
#   c10k   echosvr_v1, then echosvr_v5: 10,000 connections, one 64 B
#          message a second each, 60 s; target p99 < 10 ms
#   c100k  echosvr_v5 -n 6 on 0.0.0.0: 100,000 connections from 10
#          addresses, one message every 10 s each, 60 s; target p99 < 10 ms
#   c1m    echosvr_v5 -n 56: 1,000,000 connections from 100 addresses,
#          one message a minute each, 120 s
# Every run: zero errors and every echo checked (scale/scaleclient), the
# servers' memory per connection (user space from /proc/PID/status, the
# kernel's from /proc/meminfo, /proc/slabinfo and /proc/net/sockstat),
# connect time and latency percentiles from each message's due time.
#
# First it checks the limits the run needs and says what to change. Each
# measured run holds the machine's benchmark lock (SVRTUT_BENCH_LOCK,
# default /tmp/svrtut-bench.lock; set it empty when the caller already
# holds it). It stops only the processes it started, and checks that the
# servers left no segment or FIFO. Knobs for a shorter try:
# SCALE_SECONDS (the sending time), SCALE_CONNS, SCALE_IO (io_conn count).
# SCALE_NICE=-10 (as root) runs the servers and the client at that nice
# value, and gives the caller's session the same (Linux's autogroups
# share the CPU between sessions first, and nice counts only inside one;
# restored at exit): on a machine busy with other people's work it shows
# what the programs do when they get the CPU they need. The report says
# when it was used.
# Exit status: 0 when every run had zero errors and left nothing behind
# (a latency target missed is reported, not failed), 1 otherwise, 2 on
# bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
c10k)
    servers="v1 v5" conns=10000 interval_ms=1000 seconds=60 nio=1 addrs=1
    target_p99_ms=10 ;;
c100k)
    servers="v5" conns=100000 interval_ms=10000 seconds=60 nio=6 addrs=10
    target_p99_ms=10 ;;
c1m)
    servers="v5" conns=1000000 interval_ms=60000 seconds=120 nio=56 addrs=100
    target_p99_ms= ;;
*)
    sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2 ;;
esac
name=$1
conns=${SCALE_CONNS:-$conns}
seconds=${SCALE_SECONDS:-$seconds}
nio=${SCALE_IO:-$nio}
hold_ms=3000 # connections open and idle: the servers' memory is read then
grace_ms=10000
connect_s=$((60 + conns / 5000)) # a generous 5,000 connections a second
lock=${SVRTUT_BENCH_LOCK-/tmp/svrtut-bench.lock}
run=() # how the programs are started: as they are, or niced
client=./scale/scaleclient
v1=../ch3-echo/echosvr_v1
v5=./echosvr_v5
kib=1024

tmp=$(mktemp -d "${TMPDIR:-/tmp}/svrtut-scale.XXXXXX")
server_pid= client_pid= autogroup=
cleanup() {
    local pid
    for pid in $client_pid $server_pid; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
    [ -z "$autogroup" ] || echo "$autogroup" >/proc/self/autogroup
}
trap cleanup EXIT
trap 'exit 1' INT TERM
if [ -n "${SCALE_NICE:-}" ]; then
    run=(nice -n "$SCALE_NICE")
    if [ -w /proc/self/autogroup ]; then # the session's value, to restore
        autogroup=$(awk '{ print $NF }' /proc/self/autogroup)
        echo "$SCALE_NICE" >/proc/self/autogroup
    fi
fi

die() { echo "run.sh: $*" >&2; exit 1; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
sysctl_value() { tr -s ' \t' ' ' <"/proc/sys/${1//.//}"; }
meminfo() { awk -v k="$1:" '$1 == k { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }
per_conn() { awk -v a="$1" -v b="$2" -v n="$3" \
                 'BEGIN { printf "%.0f", (b - a) / n }'; }

# --- the limits ---------------------------------------------------------

# A server process holds its share of the connections, a client worker
# at most what the open-file limit allows (scaleclient picks how many).
per_server=$(( (conns + nio - 1) / nio ))
check_limits() {
    local hard need ports lo hi files used max avail want segs shmmni
    hard=$(ulimit -Hn)
    need=$((per_server + per_server / 20 + 64)) # SO_REUSEPORT is not even
    [ "$hard" = unlimited ] || [ "$hard" -ge "$need" ] ||
        die "a server process needs $need descriptors and the open-file" \
            "hard limit is $hard: raise it (ulimit -Hn $need, as root," \
            "or LimitNOFILE=) or use more io_conn (SCALE_IO=)"
    ulimit -n "$hard" # the soft limit up to the hard one, for every child
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    ports=$(( (conns + addrs - 1) / addrs ))
    [ $((hi - lo + 1)) -ge "$ports" ] ||
        die "$ports connections per server address need as many" \
            "ephemeral ports, and net.ipv4.ip_local_port_range is $lo-$hi:" \
            "sysctl -w net.ipv4.ip_local_port_range='1024 65535'"
    read -r used _ max </proc/sys/fs/file-nr
    files=$((2 * conns + 2000)) # both ends of every connection are here
    [ $((max - used)) -ge "$files" ] ||
        die "$files more open files are needed and fs.file-max leaves" \
            "$((max - used)): sysctl -w fs.file-max=$((used + files * 2))"
    avail=$(meminfo MemAvailable)
    # about 4 KiB of kernel memory per socket (two per connection), 2 KiB
    # of server and 1 KiB of client per connection, and a margin
    want=$((conns * 14 * kib))
    [ "$avail" -ge "$want" ] ||
        die "$conns connections need about $((want >> 20)) MiB and" \
            "$((avail >> 20)) MiB are available: free some, or fewer" \
            "connections (SCALE_CONNS=)"
    segs=$(( 3 * nio + 2 + $(ipcs -m | grep -c '^0x' || true) ))
    shmmni=$(sysctl_value kernel.shmmni)
    [ "$shmmni" -ge "$segs" ] ||
        die "$segs shared memory segments are needed and kernel.shmmni" \
            "is $shmmni: sysctl -w kernel.shmmni=$((segs * 2))"
    echo "limits: open files $hard per process (need $need per io_conn)," \
        "ports $lo-$hi ($ports per address), fs.file-max $max ($used used)," \
        "$((avail >> 20)) MiB available, somaxconn" \
        "$(sysctl_value net.core.somaxconn), tcp_mem" \
        "$(sysctl_value net.ipv4.tcp_mem) pages"
}

# --- the servers ----------------------------------------------------------

key=$(printf '%#x' $((0x5c000000 + ($$ % 4096) * 4096)))
fifos=$tmp/fifos
span=$((16 + 4 * nio)) # common/srvkeys.h: 16 fixed keys, 4 per io_conn

start_server() {
    local which=$1
    if [ "$which" = v1 ]; then
        "${run[@]}" "$v1" -q -a 127.0.0.1 -p 0 >"$tmp/server.out" \
            2>"$tmp/server.err" &
    else
        "${run[@]}" "$v5" -q -a 0.0.0.0 -p 0 -n "$nio" -c "$((per_server * 2))" \
            -k "$key" -d "$fifos" >"$tmp/server.out" 2>"$tmp/server.err" &
    fi
    server_pid=$!
    for _ in $(seq 300); do
        grep -qs '^listening on ' "$tmp/server.out" && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/server.out")
    [ -n "$port" ] || { cat "$tmp/server.err" >&2; die "the server did not start"; }
}

# The server and its children (md, io_conn): ours, started above.
server_pids() { echo "$server_pid" $(pgrep -P "$server_pid" || true); }

# Sum of a /proc/PID/status field (kB) over the server's processes, in bytes.
server_mem() {
    local total=0 p v
    for p in $(server_pids); do
        v=$(awk -v k="$1:" '$1 == k { print $2 }' "/proc/$p/status" 2>/dev/null)
        total=$((total + ${v:-0} * kib))
    done
    echo "$total"
}

# User and system CPU of the server's processes so far, in clock ticks.
server_ticks() {
    local p total=0
    for p in $(server_pids); do
        total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null |
                           awk '{ print $12 + $13 }')))
    done
    echo "$total"
}

# Bytes in each slab cache, "name bytes" lines.
slabs() { awk 'NR > 2 { printf "%s %.0f\n", $1, $3 * $4 }' /proc/slabinfo 2>/dev/null; }
tcp_pages() { awk '$1 == "TCP:" { print $NF }' /proc/net/sockstat; }

stop_server() {
    local rc=0 left= k
    kill -TERM "$server_pid"
    wait "$server_pid" || rc=$?
    server_pid=
    [ "$rc" -eq 0 ] || { tail -5 "$tmp/server.err" >&2; die "the server exited with status $rc"; }
    for k in $(ipcs -m | awk '$1 ~ /^0x/ { print $1 }'); do
        [ $((k)) -lt $((key)) ] || [ $((k)) -ge $((key + span)) ] ||
            left="$left $k"
    done
    [ -z "$left" ] || die "segments left behind: $left"
    [ ! -d "$fifos" ] || [ -z "$(ls -A "$fifos")" ] ||
        die "FIFOs left behind: $(ls "$fifos")"
}

# --- one measured run ----------------------------------------------------

wait_line() { # PATTERN FILE SECONDS: until a line matches or the client ends
    local t
    for t in $(seq $(($3 * 10))); do
        grep -qs "$1" "$2" && return 0
        kill -0 "$client_pid" 2>/dev/null || { grep -qs "$1" "$2"; return; }
        sleep 0.1
    done
    return 1
}

measure() {
    local which=$1 label conn_line= line rc=0 slab0 slab1 anon0 anon1 \
        rss1 tcp1 unrec0 unrec1 act_anon top ticks0 ticks1= kmsgs
    [ "$which" = v1 ] && label=echosvr_v1 || label="echosvr_v5 -n $nio"
    echo
    echo "== $label: $conns connections, $((interval_ms / 1000)) s apart," \
        "$seconds s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    start_server "$which"
    kmsgs=$(dmesg 2>/dev/null | wc -l || echo 0)
    slabs >"$tmp/slab0"
    slab0=$(meminfo Slab) unrec0=$(meminfo SUnreclaim)
    anon0=$(server_mem RssAnon) ticks0=$(server_ticks)
    "${run[@]}" "$client" -c "$conns" -A "$addrs" -i "$interval_ms" -s 64 -d "$seconds" \
        -H "$hold_ms" -g "$grace_ms" -t "$connect_s" "$port" \
        >"$tmp/client.out" 2>"$tmp/client.err" &
    client_pid=$!
    if wait_line '^connected=' "$tmp/client.out" $((connect_s + 30)); then
        # every connection open and idle: read the memory now
        ticks1=$(server_ticks)
        anon1=$(server_mem RssAnon) rss1=$(server_mem VmRSS)
        slab1=$(meminfo Slab) unrec1=$(meminfo SUnreclaim) tcp1=$(tcp_pages)
        slabs >"$tmp/slab1"
        conn_line=$(grep '^connected=' "$tmp/client.out")
        echo "connected: $conn_line"
        echo "sockets: $(grep '^TCP:' /proc/net/sockstat)"
        echo "idle, server user space: $(per_conn "$anon0" "$anon1" "$conns")" \
            "B/connection anonymous RSS ($((anon1 >> 20)) MiB in all," \
            "VmRSS $((rss1 >> 20)) MiB)"
        echo "idle, kernel: slab $(per_conn "$slab0" "$slab1" "$conns")" \
            "B/connection (unreclaimable" \
            "$(per_conn "$unrec0" "$unrec1" "$conns")); TCP buffers" \
            "$tcp1 pages (tcp_mem allows $(cut -f3 /proc/sys/net/ipv4/tcp_mem));" \
            "both ends of every connection are on this machine"
        top=$(awk 'NR == FNR { a[$1] = $2; next }
                   { d = $2 - a[$1]; if (d > 0) printf "%.0f %s\n", d, $1 }' \
                  "$tmp/slab0" "$tmp/slab1" | sort -rn | head -6 |
              awk -v n="$conns" '{ printf "%s %.0f, ", $2, $1 / n }')
        echo "idle, largest slab growth (B/connection): ${top%, }"
        sleep $(( (hold_ms / 1000) + seconds * 9 / 10 )) &
        wait $! || true
        act_anon=$(server_mem RssAnon)
        echo "after $((seconds * 9 / 10)) s of messages, server user space:" \
            "$(per_conn "$anon0" "$act_anon" "$conns") B/connection," \
            "TCP buffers $(tcp_pages) pages"
    fi
    wait "$client_pid" || rc=$?
    client_pid=
    cat "$tmp/client.err" >&2
    line=$(grep '^conns=' "$tmp/client.out" || true)
    if [ -n "$line" ] && [ -n "$ticks1" ]; then
        # CPU (user + system) while connecting, then while sending: what
        # the second phase needs per echo, and in cores at this rate
        awk -v t0="$ticks0" -v t1="$ticks1" -v t2="$(server_ticks)" \
            -v hz="$(getconf CLK_TCK)" -v c1="$(field connect_cpu_s "$conn_line")" \
            -v c2="$(field cpu_s "$line")" -v n="$(field echoed "$line")" \
            -v secs="$seconds" 'BEGIN {
                s1 = (t1 - t0) / hz; s2 = (t2 - t1) / hz; c2 -= c1
                printf "cpu connecting: server %.1f s, client %.1f s\n", s1, c1
                printf "cpu sending: server %.1f s, client %.1f s; per echo" \
                       " %.1f and %.1f us; %.2f cores over the %d s\n", s2, c2,
                       n ? s2 * 1e6 / n : 0, n ? c2 * 1e6 / n : 0,
                       (s2 + c2) / secs, secs }'
    fi
    stop_server
    # what the kernel said meanwhile (TCP memory pressure, table overflows)
    dmesg 2>/dev/null | tail -n +$((kmsgs + 1)) |
        grep -E 'TCP|[Oo]ut of memory|oom-kill|overflow' | tail -5 | sed 's/^/kernel: /' || true
    [ -n "$line" ] || die "$label: the client did not finish (status $rc)"
    echo "result: $line"
    printf '%s\n' "$which $rc $line ${conn_line:-connected=0}" >>"$tmp/results"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

locked() { # run "$@" holding the benchmark lock, if there is one
    if [ -z "$lock" ]; then
        "$@"
        return
    fi
    exec 9>>"$lock"
    flock 9
    "$@"
    flock -u 9
    exec 9>&-
}

echo "$name on $(uname -n): $(nproc) cores, $(( $(meminfo MemTotal) >> 30 ))" \
    "GiB, kernel $(uname -r)${SCALE_NICE:+, servers and client at nice $SCALE_NICE}"
check_limits
for s in $servers; do
    locked measure "$s"
done

# --- the summary ---------------------------------------------------------

echo
printf '%-16s %8s %7s %9s %9s %4s %8s %8s %8s %8s %9s %9s\n' server conns \
    errors sent echoed ok p50_ms p99_ms p999_ms max_ms late99_ms connect_s
status=0
while read -r which rc line; do
    [ "$which" = v1 ] && label=echosvr_v1 || label="echosvr_v5 -n $nio"
    ok=yes
    [ "$rc" -eq 0 ] && [ "$(field errors "$line")" = 0 ] &&
        [ "$(field echoed "$line")" = "$(field expected "$line")" ] || ok=NO
    [ $ok = yes ] || status=1
    p99=$(awk -v u="$(field p99_us "$line")" 'BEGIN { print u / 1000 }')
    printf '%-16s %8s %7s %9s %9s %4s %8.2f %8.2f %8.2f %8.2f %9.2f %9s\n' \
        "$label" "$(field connected "$line")" "$(field errors "$line")" \
        "$(field sent "$line")" "$(field echoed "$line")" $ok \
        "$(awk -v u="$(field p50_us "$line")" 'BEGIN { print u / 1000 }')" \
        "$p99" \
        "$(awk -v u="$(field p999_us "$line")" 'BEGIN { print u / 1000 }')" \
        "$(awk -v u="$(field max_us "$line")" 'BEGIN { print u / 1000 }')" \
        "$(awk -v u="$(field late_p99_us "$line")" 'BEGIN { print u / 1000 }')" \
        "$(field connect_s "$line")"
    if [ -n "$target_p99_ms" ]; then
        awk -v p="$p99" -v t="$target_p99_ms" 'BEGIN { exit !(p < t) }' &&
            met=met || met="NOT met"
        echo "  p99 target < $target_p99_ms ms: $met"
    fi
done <"$tmp/results"
if [ "$name" = c10k ] && [ "$(wc -l <"$tmp/results")" -eq 2 ]; then
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^p99_us=/) {
               sub(/p99_us=/, "", $i); p[NR] = $i } }
         END { if (p[1] > 0) printf "p99 echosvr_v5 / echosvr_v1: %.3g\n", p[2] / p[1] }' \
        "$tmp/results"
fi
exit $status
