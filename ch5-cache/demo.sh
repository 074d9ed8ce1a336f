#!/bin/bash
# demo.sh -- ch5-cache: echosvr_v6, whose md keeps a session record per
# connection in a shared multi-hash; viewcache lists the live sessions
# while clients are connected, and again after md is killed and restarted.
. ../scripts/demo-lib.sh

key=$(printf '0x5d%04x00' $(($$ & 0xffff)))
start_server port ./echosvr_v6 -p 0 -k "$key"

# Three clients that stay connected: each sends a line a second.
for name in alice bob carol; do
    say "(while sleep 1; do echo $name; done) | ../ch3-echo/client_v1 -p $port &"
    (while sleep 1; do echo "$name"; done) |
        ../ch3-echo/client_v1 -p "$port" >"$demo_tmp/$name.out" 2>&1 &
    demo_pids+=($!)
done
sleep 2.5
run ./viewcache -k "$key"
say "pkill -KILL -x -P ${demo_pids[0]} md    # md dies; the table stays"
pkill -KILL -x -P "${demo_pids[0]}" md
sleep 1.5
run ./viewcache -k "$key"
echo "(same sessions, still counting: the new md attached to the table)"
say "kill the three clients"
for i in 1 2 3; do
    kill -TERM "${demo_pids[-1]}" 2>/dev/null || true
    wait "${demo_pids[-1]}" 2>/dev/null || true
    unset 'demo_pids[-1]'
done
sleep 0.5
run ./viewcache -k "$key"
stop_server
say "./viewcache -k $key    # no server any more"
./viewcache -k "$key" || echo "(exit status $?)"
say "ipcs -m | grep -c ${key%00}    # queues, statistics, table removed"
ipcs -m | grep -ci "${key%00}" || true
