#!/bin/bash
# diff.sh FROM TO -- what changed from one chapter (or exercise) directory
# to another, as a unified diff of their sources, Makefile, scripts and
# READMEs. Versioned names pair up (echosvr_v1.c with echosvr_v2.c); so
# does a renamed program (echosvr_v1.c with echosvr_rate.c). FROM
# defaults to the chapter before TO. Exit 0 with the diff (or a line
# saying there is none), 2 on a bad argument.
set -eu
. "$(dirname "$0")/lib.sh"
from=${1:-} to=${2:-}
from=${from%/} to=${to%/}
[ -n "$to" ] || die "usage: make diff FROM=<dir> TO=<dir> (FROM defaults to the chapter before TO)"
if [ -z "$from" ]; then # course order, as the top Makefile lists the chapters
    from=$($MAKE -s --no-print-directory -C "$TOP" print-chapters | tr ' ' '\n' |
        awk -v t="$to" '$0 == t { print p } { p = $0 }')
    [ -n "$from" ] || die "no chapter before $to: give FROM=<dir>"
fi
for d in "$from" "$to"; do
    [ -d "$TOP/$d" ] || die "no directory $d here; chapters: $($MAKE -s --no-print-directory -C "$TOP" print-chapters)"
done

# Files worth comparing, each as "PAIR-KEY|PATH", the key without versions.
listing() {
    (cd "$TOP/$1" && find . -type f \( -name '*.[ch]' -o -name Makefile -o \
        -name '*.sh' -o -name '*.md' \) ! -path './.proof/*' ! -path './wrong/*' |
        sed 's|^\./||' | sort) |
        while read -r f; do
            printf '%s|%s\n' "$(echo "$f" | sed -E 's/_v[0-9]+(\.[a-z]+)$/\1/')" "$f"
        done | sort
}
a=$WORK/from b=$WORK/to
listing "$from" >"$a"
listing "$to" >"$b"
# A renamed program: pair each unpaired .c file of TO with the unpaired
# one of FROM sharing the longest prefix, at least 4 characters.
join -t '|' -v 1 "$a" "$b" | cut -d '|' -f 2 | grep '\.c$' >"$a.left" || true
join -t '|' -v 2 "$a" "$b" | grep '\.c$' >"$b.right" || true
while IFS='|' read -r k fb; do
    best='' bestn=3
    while read -r fa; do
        n=0
        while [ "$n" -lt "${#fa}" ] && [ "${fa:0:n+1}" = "${fb:0:n+1}" ]; do
            n=$((n + 1))
        done
        if [ "$n" -gt "$bestn" ]; then best=$fa bestn=$n; fi
    done <"$a.left"
    [ -n "$best" ] || continue
    awk -F '|' -v OFS='|' -v f="$best" -v k="$k" '$2 == f { $1 = k } { print }' \
        "$a" | sort >"$a.new"
    mv "$a.new" "$a"
    grep -vxF "$best" "$a.left" >"$a.new" || true
    mv "$a.new" "$a.left"
done <"$b.right"
# A solutions/ directory holds only the learner's files: compare those.
join -t '|' -a 1 -a 2 -e '' -o 0,1.2,2.2 "$a" "$b" |
    while IFS='|' read -r k fa fb; do
        case $from/$fa/$to/$fb in
        solutions/*//*) continue ;;
        */solutions/*/) continue ;;
        esac
        pa=/dev/null pb=/dev/null
        [ -z "$fa" ] || pa=$TOP/$from/$fa
        [ -z "$fb" ] || pb=$TOP/$to/$fb
        diff -u --label "${fa:+a/$from/}${fa:-/dev/null}" \
            --label "${fb:+b/$to/}${fb:-/dev/null}" "$pa" "$pb" || true
    done >"$WORK/diff"
if [ -s "$WORK/diff" ]; then
    cat "$WORK/diff"
else
    echo "$from and $to do not differ (sources, Makefiles, scripts, READMEs)."
fi
