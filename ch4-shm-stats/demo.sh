#!/bin/bash
# demo.sh -- ch4-shm-stats: the server keeps its statistics in shared
# memory; client_v4 loads it while viewstats, another process, watches.
. ../scripts/demo-lib.sh

# A key of our own, so the demo never meets a server someone else runs.
key=$(printf '0x5d%06x' $(($$ & 0xffffff)))
start_server port ./echosvr_v4 -p 0 -k "$key"
say "./client_v4 $port 64 10 3 &   # 10 connections, 64-byte messages, 3 s"
./client_v4 "$port" 64 10 3 &
client=$!
demo_pids+=("$client")
sleep 0.5
run ./viewstats -k "$key" -w -n 2
wait "$client"
unset 'demo_pids[-1]'
run ./viewstats -k "$key"
say "ipcs -m | grep $key    # the segment, mode 600"
ipcs -m | grep -i "$key" || true
stop_server
say "ipcs -m | grep $key    # gone after a clean exit"
ipcs -m | grep -i "$key" || echo "(no segment)"
run ./viewstats -k "$key" || echo "viewstats exited with status $?"
