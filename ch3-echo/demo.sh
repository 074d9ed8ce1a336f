#!/bin/bash
# demo.sh -- ch3-echo: start the echo server, echo a few lines, stop it.
. ../scripts/demo-lib.sh

start_server port ./echosvr_v1 -p 0
run ./client_v1 -p "$port" "hello, event loop" "a second message"
say "printf 'from\\nstandard input\\n' | ./client_v1 -p $port"
printf 'from\nstandard input\n' | ./client_v1 -p "$port"
say "head -c 8M /dev/urandom | base64 -w0 | ./client_v1 -p $port | wc -c"
head -c 8M /dev/urandom | base64 -w0 | ./client_v1 -p "$port" | wc -c
stop_server
