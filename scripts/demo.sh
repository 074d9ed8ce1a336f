#!/bin/bash
# demo.sh -- walk the chapters in order, running each one's demo.sh.
# usage: scripts/demo.sh CHAPTER...
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/colour.sh"
for ch in "$@"; do
    [ -x "$top/$ch/demo.sh" ] || continue
    printf '\n%s##### %s%s\n' "$bold" "$ch" "$plain"
    (cd "$top/$ch" && ./demo.sh)
done
printf '\nDemo finished; no server is left running.\n'
