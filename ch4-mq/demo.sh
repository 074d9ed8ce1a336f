#!/bin/bash
# demo.sh -- ch4-mq: io_conn and md joined by shared-memory queues, started
# by echosvr_v5; md is killed under load and restarted, nothing is lost.
. ../scripts/demo-lib.sh

# A base key of our own; the launcher logs viewstats' keys for all.
key=$(printf '0x5c%04x00' $(($$ & 0xffff)))
start_server port ./echosvr_v5 -p 0 -k "$key"
stats=$(sed -n 's/.*statistics: viewstats //p' "$demo_server_out")
say "pgrep -a -P ${demo_pids[-1]}    # the launcher's children"
pgrep -a -P "${demo_pids[-1]}"
say "../ch4-shm-stats/client_v4 $port 64 50 3 &   # 50 connections, 3 s"
../ch4-shm-stats/client_v4 "$port" 64 50 3 &
client=$!
demo_pids+=("$client")
sleep 1
say "pkill -KILL -x -P ${demo_pids[-2]} md    # md dies under load"
pkill -KILL -x -P "${demo_pids[-2]}" md
sleep 0.5
run ../ch4-shm-stats/viewstats $stats
wait "$client"
unset 'demo_pids[-1]'
echo "(client_v4 checked every echo: the restart lost nothing)"
stop_server
say "ipcs -m | grep -c ${key%00}    # queues and statistics removed"
ipcs -m | grep -ci "${key%00}" || true
