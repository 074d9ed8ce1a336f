#!/bin/bash
# check-exercise.sh ID -- build exercises/ID, run its tests, and explain
# each failure: the test's message, what the server did (exit status or
# signal, the end of its stderr), one hint and what to reread. When every
# test fails for one cause (no build, a server that died), that cause
# comes first, once, with its hint.
set -eu
. "$(dirname "$0")/lib.sh"
id=${1:-}
need_id "$id"
dir=$EXDIR/$id
tap=$WORK/tap log=$WORK/log res=$WORK/results

echo "${bold}== $id: $(meta "$id" title)${plain}"
rc=0
run_tests "$dir" "$tap" "$log" || rc=$?
if [ "$rc" -eq 2 ] && [ ! -s "$tap" ]; then
    if grep -q ': error: ' "$log"; then
        echo "${red}$id does not build.${plain} The compiler's first errors:"
        grep -m 5 -E ': (error|undefined reference)' "$log" | sed 's/^/    /'
        echo "hint: fix the first error first: the others often follow" \
            "from it. All of it: make -C exercises/$id"
    else
        cat "$log"
        echo "${red}The tests did not run${plain} (above: what make printed)."
    fi
    exit 1
fi
tap_results "$tap" >"$res"
total=$(wc -l <"$res")
nfail=$(grep -c '^fail' "$res" || true)
if [ "$rc" -eq 0 ] && [ "$nfail" -eq 0 ]; then
    awk -F '\t' '{ print "  ok    " $4 }' "$res"
    echo "${green}$id passes all its $total tests.${plain} Next: make progress"
    exit 0
fi

# One cause: every test failed, and each says the server ended the same way.
cause=$(awk -F '\t' '$1 != "fail" || $6 == "" || $6 == "still running" {
        bad = 1 } { s[$6] = 1 } END { n = 0; for (k in s) n++
        if (!bad && n == 1) for (k in s) print k }' "$res")
if [ -n "$cause" ]; then
    when=""
    grep -qv 'did not start' <(cut -f 5 "$res") ||
        when=" before it printed its 'listening on' line"
    echo "${red}All $total tests fail for one cause:${plain} the server $cause$when."
    awk -F '\t' 'NR == 1 && $7 == "(nothing)" { print "Its stderr is empty." }
        NR == 1 && $7 != "(nothing)" { n = split($7, l, " \\| ")
        print "Its stderr ends with:"; for (i = 1; i <= n; i++) print "    " l[i] }' "$res"
    echo "hint: $(meta "$id" dies)"
    echo "  by hand: $(meta "$id" run)"
    echo "The tests that failed:"
    awk -F '\t' '{ print "  FAIL  " $4 ": " $5 }' "$res"
    exit 1
fi

while IFS=$'\t' read -r st tcase test name msg server err; do
    if [ "$st" = ok ]; then
        echo "  ok    $name"
        continue
    fi
    echo "  ${red}FAIL${plain}  $name ($tcase): $msg"
    if [ -n "$server" ] && [ "$server" != "still running" ]; then
        echo "        the server $server"
    fi
    if [ -n "$err" ] && [ "$err" != "(nothing)" ]; then
        echo "        its stderr ends with: $err"
    fi
    echo "        hint: $(meta_hint "$id" "$test")"
done <"$res"
echo "$nfail of $total tests fail."
echo "  reread: $(meta "$id" reread)"
echo "  more hints, least revealing first: exercises/$id/HINTS.md"
exit 1
