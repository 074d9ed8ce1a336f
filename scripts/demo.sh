#!/bin/bash
# demo.sh -- walk the chapters in order, running each one's demo.sh.
# usage: scripts/demo.sh CHAPTER...
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
for ch in "$@"; do
    [ -x "$top/$ch/demo.sh" ] || continue
    printf '\n\033[1m##### %s\033[0m\n' "$ch"
    (cd "$top/$ch" && ./demo.sh)
done
printf '\nDemo finished; no server is left running.\n'
