#!/bin/bash
# demo.sh -- ch3-timeout: the server reports its statistics every second
# and closes a connection that stays silent for two seconds.
. ../scripts/demo-lib.sh

start_server port ./echosvr_v2 -p 0 -i 1 -t 2
run ./client_v2 -p "$port" -n 100 -s 64
run ./client_v2 -p "$port" -n 3 -s 1k -l 5
sleep 1.2
say "the server's reports so far (its stdout)"
cat "$demo_tmp"/echosvr_v2.*
stop_server
