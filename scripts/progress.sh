#!/bin/bash
# progress.sh -- every exercise in course order (smallest first within a
# chapter) with its size in lines to write and its state, then the next
# one to do.
set -eu
. "$(dirname "$0")/lib.sh"

# state ID: "not started", "does not build", "failing N of M", "passing"
exercise_state() {
    local id=$1 rc=0 n m
    if skeleton_untouched "$id"; then
        echo "not started"
        return
    fi
    run_tests "$EXDIR/$id" "$WORK/tap" "$WORK/log" || rc=$?
    case $rc in
    0) echo "passing" ;;
    2) echo "does not build" ;;
    *)
        tap_results "$WORK/tap" >"$WORK/res"
        m=$(wc -l <"$WORK/res")
        n=$(grep -c '^fail' "$WORK/res" || true)
        echo "failing $n of $m"
        ;;
    esac
}

next=""
printf '%-18s %-13s %-7s %-10s %s\n' exercise chapter section size state
for id in $(list_ids); do
    state=$(exercise_state "$id")
    printf '%-18s %-13s %-7s %-10s %s\n' "$id" "$(meta "$id" chapter)" \
        "$(meta "$id" section)" "$(meta "$id" size) lines" "$state"
    [ -n "$next" ] || [ "$state" = passing ] || next=$id
done
echo
if [ -z "$next" ]; then
    echo "Every exercise passes."
else
    echo "Next: $next -- $(meta "$next" title)"
    echo "  read exercises/$next/README.md, then: make check-exercise EX=$next"
fi
