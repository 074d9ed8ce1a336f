#!/bin/bash
# exercise.sh -- the exercise workflow behind the top-level make targets.
#
#   exercise.sh check ID        build exercises/ID, run its tests, hint failures
#   exercise.sh progress        every exercise and its state, the next to do
#   exercise.sh grade [DIR]     points per test case; DIR/grade.{tap,json}
#   exercise.sh prove ID...     (make check) solution passes, skeleton fails
#   exercise.sh handout FILE    student tarball without solutions/, verified
#   exercise.sh diff FROM TO    the changes between two chapter directories
#   exercise.sh sums ID         record the skeleton's checksums
#
# Each exercises/ID holds META (title, chapter, section, order, the learner's
# files, points per Check test case, one hint per test; see
# exercises/README.md), README.md, HINTS.md, the skeleton, tests/ and
# tests/skeleton.sha256. solutions/ID holds the reference versions of the
# learner's files. Knobs such as WERROR and SANITIZE reach the builds
# through MAKEFLAGS, as in any sub-make.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
EXDIR=$TOP/exercises
SOLDIR=$TOP/solutions
SCRATCH=$EXDIR/.proof
MAKE=${MAKE:-make}
# Temporary files of this run, removed however it ends.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Build products that never belong in a copy of an exercise or a handout.
BUILD_JUNK='\.(o|d|a|su)$|(^|/)\.build-flags$|(^|/)tests/(runner|suites\.inc)$'

die() {
    echo "exercise.sh: $*" >&2
    exit 2
}

# --- metadata -----------------------------------------------------------
meta() { # ID KEY: the rest of the first KEY line
    awk -v k="$2" '$1 == k { sub(/^[ \t]*[^ \t]+[ \t]+/, ""); print; exit }' \
        "$EXDIR/$1/META"
}
meta_cases() { # ID: "CASE POINTS" lines
    awk '$1 == "case" { print $2, $3 }' "$EXDIR/$1/META"
}
meta_hint() { # ID TEST
    awk -v t="$2" '$1 == "hint" && $2 == t {
        sub(/^[ \t]*hint[ \t]+[^ \t]+[ \t]+/, ""); print; exit }' \
        "$EXDIR/$1/META"
}
meta_guards() { # ID: tests allowed to pass on the skeleton
    awk '$1 == "guard" { print $2 }' "$EXDIR/$1/META"
}
list_ids() { # every exercise, in course order
    local m
    for m in "$EXDIR"/*/META; do
        [ -e "$m" ] || continue
        printf '%s %s\n' "$(awk '$1 == "order" { print $2 }' "$m")" \
            "$(basename "$(dirname "$m")")"
    done | sort -n | awk '{ print $2 }'
}
need_id() {
    [ -n "${1:-}" ] || die "which exercise? EX=<id>, one of: $(list_ids | tr '\n' ' ')"
    [ -f "$EXDIR/$1/META" ] ||
        die "no exercise '$1'; there are: $(list_ids | tr '\n' ' ')"
}

# --- running the tests ----------------------------------------------------
# run_tests DIR TAP LOG: build DIR's programs and runner, run the runner with
# its TAP log in TAP; everything printed goes to LOG. 0 if all passed, 1 if
# some failed, 2 if it does not build.
run_tests() {
    local dir=$1 tap=$2 log=$3
    rm -f "$tap"
    if ! $MAKE --no-print-directory -C "$dir" TOP="$TOP" all tests/runner \
        >"$log" 2>&1; then
        return 2
    fi
    (cd "$dir" && CK_TAP_LOG_FILE_NAME="$tap" ./tests/runner) >>"$log" 2>&1 &&
        return 0
    [ -s "$tap" ] || return 2
    return 1
}

# TAP from Check, one result per line: "ok 3 - FILE:CASE:TEST: message".
# Prints "STATUS CASE TEST message", STATUS being ok or fail; continuation
# lines of multi-line messages are dropped.
tap_results() {
    awk '/^(not )?ok [0-9]+ - / {
        st = /^not / ? "fail" : "ok"
        sub(/^(not )?ok [0-9]+ - /, "")
        n = split($0, f, ":")
        msg = $0; sub(/^[^:]*:[^:]*:[^:]*: ?/, "", msg)
        print st, f[2], f[3], msg
    }' "$1"
}

# scratch_copy ID KIND: a copy of exercises/ID in the scratch area, with
# solutions/ID laid over it when KIND is solution. Unchanged files keep
# their time stamps, so repeated proofs rebuild only what changed.
scratch_copy() {
    local id=$1 kind=$2 dst=$SCRATCH/$1/$2 f
    mkdir -p "$dst/tests"
    (cd "$EXDIR/$id" && find . -type f ! -path './tests/skeleton.sha256' |
        sed 's|^\./||' | grep -Ev "$BUILD_JUNK" |
        grep -vxF -f <(sed 's|^/||' .gitignore 2>/dev/null || true)) |
        while read -r f; do
            copy_if_changed "$EXDIR/$id/$f" "$dst/$f"
        done
    if [ "$kind" = solution ]; then
        (cd "$SOLDIR/$id" && find . -type f | sed 's|^\./||') |
            while read -r f; do
                copy_if_changed "$SOLDIR/$id/$f" "$dst/$f"
            done
    fi
    echo "$dst"
}
copy_if_changed() {
    mkdir -p "$(dirname "$2")"
    cmp -s "$1" "$2" 2>/dev/null || cp "$1" "$2"
}

# --- check ------------------------------------------------------------------
cmd_check() {
    local id=${1:-} dir tap log rc=0 nfail
    need_id "$id"
    dir=$EXDIR/$id
    tap=$(mktemp -p "$WORK") log=$(mktemp -p "$WORK")
    echo "== $id: $(meta "$id" title)"
    if ! $MAKE --no-print-directory -C "$dir" all tests/runner; then
        echo
        echo "$id does not build yet: fix the first error above."
        return 1
    fi
    (cd "$dir" && CK_TAP_LOG_FILE_NAME="$tap" ./tests/runner) || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo
        echo "$id passes all its tests. Well done. Next: make progress"
        return 0
    fi
    nfail=$(tap_results "$tap" | grep -c '^fail' || true)
    echo
    echo "$nfail test(s) fail. For each, where to look:"
    tap_results "$tap" | awk '$1 == "fail" { print $2, $3 }' | uniq |
        while read -r tcase test; do
            echo "  $test ($tcase)"
            echo "    hint:   $(meta_hint "$id" "$test")"
        done
    echo "  reread: $(meta "$id" reread)"
    echo "  more hints, least revealing first: exercises/$id/HINTS.md"
    return 1
}

# --- progress -----------------------------------------------------------------
skeleton_untouched() {
    (cd "$EXDIR/$1" && sha256sum --quiet -c tests/skeleton.sha256) \
        >/dev/null 2>&1
}

# state ID: "not started", "does not build", "failing N of M", "passing"
exercise_state() {
    local id=$1 tap log rc=0 n m
    if skeleton_untouched "$id"; then
        echo "not started"
        return
    fi
    tap=$(mktemp -p "$WORK") log=$(mktemp -p "$WORK")
    run_tests "$EXDIR/$id" "$tap" "$log" || rc=$?
    case $rc in
    0) echo "passing" ;;
    2) echo "does not build" ;;
    *)
        m=$(tap_results "$tap" | wc -l)
        n=$(tap_results "$tap" | grep -c '^fail' || true)
        echo "failing $n of $m"
        ;;
    esac
    rm -f "$tap" "$log"
}

cmd_progress() {
    local id state next=""
    printf '%-20s %-14s %-8s %s\n' exercise chapter section state
    for id in $(list_ids); do
        state=$(exercise_state "$id")
        printf '%-20s %-14s %-8s %s\n' "$id" "$(meta "$id" chapter)" \
            "$(meta "$id" section)" "$state"
        [ -n "$next" ] || [ "$state" = passing ] || next=$id
    done
    echo
    if [ -z "$next" ]; then
        echo "Every exercise passes."
    else
        echo "Next: $next -- $(meta "$next" title)"
        echo "  read exercises/$next/README.md, then: make check-exercise EX=$next"
    fi
}

# --- grade ----------------------------------------------------------------------
json_str() { # a JSON string literal
    printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' |
        tr -d '\000-\037')"
}

cmd_grade() {
    local out=${1:-.} id tap log rc tcase pts passed total got
    local gtap gjson total_pts=0 total_max=0 n=0 first_ex=1 first_case
    local -A ch_pts ch_max
    mkdir -p "$out"
    gtap=$out/grade.tap gjson=$out/grade.json
    tap=$(mktemp -p "$WORK") log=$(mktemp -p "$WORK")
    : >"$gtap.body"
    printf '{\n  "exercises": [' >"$gjson"
    printf '%-20s %-12s %9s %7s\n' exercise "test case" tests points
    for id in $(list_ids); do
        rc=0
        run_tests "$EXDIR/$id" "$tap" "$log" || rc=$?
        [ "$rc" -ne 2 ] || : >"$tap"
        [ $first_ex -eq 1 ] || printf ',' >>"$gjson"
        first_ex=0
        printf '\n    {"id": %s, "chapter": %s, "section": %s, "builds": %s, "cases": [' \
            "$(json_str "$id")" "$(json_str "$(meta "$id" chapter)")" \
            "$(json_str "$(meta "$id" section)")" \
            "$([ "$rc" -eq 2 ] && echo false || echo true)" >>"$gjson"
        first_case=1
        while read -r tcase pts; do
            total=$(tap_results "$tap" | awk -v c="$tcase" '$2 == c' | wc -l)
            passed=$(tap_results "$tap" |
                awk -v c="$tcase" '$2 == c && $1 == "ok"' | wc -l)
            got=0
            [ "$total" -gt 0 ] && [ "$passed" -eq "$total" ] && got=$pts
            printf '%-20s %-12s %4s/%-4s %3s/%-3s\n' "$id" "$tcase" \
                "$passed" "$total" "$got" "$pts"
            n=$((n + 1))
            if [ "$got" -eq "$pts" ]; then
                echo "ok $n - $id/$tcase ($got/$pts points)" >>"$gtap.body"
            else
                echo "not ok $n - $id/$tcase ($got/$pts points)" >>"$gtap.body"
                [ "$rc" -ne 2 ] || echo "# does not build" >>"$gtap.body"
                tap_results "$tap" |
                    awk -v c="$tcase" '$2 == c && $1 == "fail" {
                        $1 = ""; $2 = ""; sub(/^ +/, ""); print "# " $0 }' \
                        >>"$gtap.body"
            fi
            [ $first_case -eq 1 ] || printf ',' >>"$gjson"
            first_case=0
            printf '\n      {"name": %s, "points": %s, "max": %s, "passed": %s, "tests": %s, "failures": [%s]}' \
                "$(json_str "$tcase")" "$got" "$pts" "$passed" "$total" \
                "$(tap_results "$tap" | awk -v c="$tcase" '$2 == c && $1 == "fail" { print $3 }' | uniq |
                    while read -r t; do printf '%s,' "$(json_str "$t")"; done |
                    sed 's/,$//')" >>"$gjson"
            total_pts=$((total_pts + got)) total_max=$((total_max + pts))
            ch=$(meta "$id" chapter)
            ch_pts[$ch]=$((${ch_pts[$ch]:-0} + got))
            ch_max[$ch]=$((${ch_max[$ch]:-0} + pts))
        done < <(meta_cases "$id")
        printf '\n    ]}' >>"$gjson"
    done
    printf '\n  ],\n  "chapters": {' >>"$gjson"
    echo
    first_case=1
    for ch in $(printf '%s\n' "${!ch_max[@]}" | sort); do
        printf 'chapter %-24s %4s/%-4s\n' "$ch" "${ch_pts[$ch]}" "${ch_max[$ch]}"
        [ $first_case -eq 1 ] || printf ',' >>"$gjson"
        first_case=0
        printf '\n    %s: {"points": %s, "max": %s}' "$(json_str "$ch")" \
            "${ch_pts[$ch]}" "${ch_max[$ch]}" >>"$gjson"
    done
    printf '\n  },\n  "points": %s,\n  "max": %s\n}\n' "$total_pts" \
        "$total_max" >>"$gjson"
    { echo "TAP version 13"; echo "1..$n"; cat "$gtap.body"; } >"$gtap"
    rm -f "$gtap.body"
    printf 'total %-26s %4s/%-4s\n' "" "$total_pts" "$total_max"
    echo "wrote $gtap and $gjson"
    [ "$total_pts" -eq "$total_max" ]
}

# --- prove (make check) ---------------------------------------------------------
prove_fail() {
    echo "  FAIL    $id: $*"
    bad=1
}

# prove_meta ID: what the tests report matches META (cases, hints).
prove_meta() {
    local id=$1 tap=$2 tcase test
    for f in README.md HINTS.md tests/skeleton.sha256; do
        [ -s "$EXDIR/$id/$f" ] || prove_fail "exercises/$id/$f is missing"
    done
    for f in $(meta "$id" files); do
        [ -f "$SOLDIR/$id/$f" ] || prove_fail "solutions/$id/$f is missing"
    done
    skeleton_untouched "$id" ||
        prove_fail "the skeleton differs from tests/skeleton.sha256" \
            "(after changing it on purpose: scripts/exercise.sh sums $id)"
    while read -r tcase; do
        meta_cases "$id" | grep -q "^$tcase " ||
            prove_fail "test case '$tcase' has no 'case' line in META"
    done < <(tap_results "$tap" | awk '{ print $2 }' | sort -u)
    while read -r tcase _; do
        tap_results "$tap" | awk '{ print $2 }' | grep -qx "$tcase" ||
            prove_fail "META lists case '$tcase', which has no tests"
    done < <(meta_cases "$id")
    while read -r test; do
        [ -n "$(meta_hint "$id" "$test")" ] ||
            prove_fail "test $test has no hint line in META"
    done < <(tap_results "$tap" | awk '{ print $3 }' | sort -u)
}

prove_one() {
    local id=$1 dir tap log rc bad=0 tcase
    tap=$(mktemp -p "$WORK") log=$(mktemp -p "$WORK")
    if [ ! -d "$SOLDIR/$id" ]; then
        prove_fail "no solutions/$id"
        return 1
    fi
    # The reference solution passes every test.
    dir=$(scratch_copy "$id" solution)
    rc=0
    run_tests "$dir" "$tap" "$log" || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        prove_fail "the solution does not pass its tests"
        rm -f "$tap" "$log"
        return 1
    fi
    echo "  PROVE   $id: solution: $(grep -E '^[0-9]+%: Checks' "$log")"
    prove_meta "$id" "$tap"
    # The skeleton builds (with the same flags) and scores nothing: every
    # test case has a failing test, and only declared guards pass.
    dir=$(scratch_copy "$id" skeleton)
    rc=0
    run_tests "$dir" "$tap" "$log" || rc=$?
    if [ "$rc" -eq 2 ]; then
        cat "$log" >&2
        prove_fail "the skeleton does not build"
    elif [ "$rc" -eq 0 ]; then
        prove_fail "the skeleton passes every test"
    else
        echo "  PROVE   $id: skeleton: $(grep -E '^[0-9]+%: Checks' "$log")"
        for tcase in $(meta_cases "$id" | awk '{ print $1 }'); do
            tap_results "$tap" | grep -q "^fail $tcase " ||
                prove_fail "test case $tcase passes on the skeleton"
        done
        while read -r test; do
            meta_guards "$id" | grep -qx "$test" ||
                prove_fail "$test passes on the skeleton (a test that" \
                    "cannot fail; or declare it a guard in META)"
        done < <(tap_results "$tap" | awk '$1 == "ok" { print $3 }' | sort -u)
    fi
    rm -f "$tap" "$log"
    return $bad
}

cmd_prove() {
    local id rc=0
    if [ ! -d "$SOLDIR" ]; then
        echo "  PROVE   skipped: no solutions/ (a student copy)"
        return 0
    fi
    # shellcheck disable=SC2046 # ids are single words
    [ $# -gt 0 ] || set -- $(list_ids)
    for id in "$@"; do
        need_id "$id"
        prove_one "$id" || rc=1
    done
    return $rc
}

cmd_sums() {
    local id=${1:-}
    need_id "$id"
    # shellcheck disable=SC2046 # file names are single words
    (cd "$EXDIR/$id" && sha256sum $(meta "$id" files) >tests/skeleton.sha256)
    echo "wrote exercises/$id/tests/skeleton.sha256"
}

# --- handout --------------------------------------------------------------------
# The files of the repository: git's list when there is one (so only
# committed and staged files, never build products or scratch copies),
# otherwise every file but the build products.
repo_files() {
    if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$TOP" ls-files
    else
        (cd "$TOP" && find . -type f ! -path './.git/*' | sed 's|^\./||')
    fi | grep -Ev "$BUILD_JUNK" | grep -Ev '^(solutions|exercises/\.proof)/' |
        grep -vx -f <(programs_re)
}
programs_re() { # every .gitignore'd program, as an anchored path regex
    (cd "$TOP" && find . -name .gitignore ! -path './.git/*') |
        while read -r g; do
            d=$(dirname "${g#./}")
            grep -Ev '^(#|$)|[*]' "$TOP/$g" | while read -r p; do
                [ "$d" = . ] && echo "${p#/}" || echo "$d/${p#/}"
            done
        done | sed 's/[.[\]^$]/\\&/g'
    echo '$^' # matches nothing: grep -f needs one pattern
}

# leaks DIR: every file under DIR that holds a solution. A file holds one
# when it equals a solution file, or carries a run of 4 or more lines that
# set the solution apart from its skeleton (trimmed, 16 characters or
# more, not in the skeleton; shorter lines are skipped over), or half of
# all such lines (and 3 or more).
leaks() {
    local root=$1 s rel id base skel tmp
    tmp=$(mktemp -d -p "$WORK")
    (cd "$root" && find . -type f | sed 's|^\./||') >"$tmp/files"
    (cd "$root" && xargs -d '\n' sha256sum <"$tmp/files") >"$tmp/sums"
    while read -r s; do
        rel=${s#"$SOLDIR"/}
        id=${rel%%/*} base=${rel#*/}
        sum=$(sha256sum <"$s" | awk '{ print $1 }')
        awk -v s="$sum" -v n="solutions/$rel" '$1 == s {
            print "  " substr($0, 67) ": a copy of " n }' "$tmp/sums"
        skel=/dev/null
        [ -f "$EXDIR/$id/$base" ] && skel=$EXDIR/$id/$base
        normalize <"$s" | sort -u |
            comm -23 - <(normalize <"$skel" | sort -u) >"$tmp/distinct"
        [ "$(wc -l <"$tmp/distinct")" -ge 3 ] || continue
        (cd "$root" && xargs -d '\n' awk -v n="solutions/$rel" '
            function report() {
                if (best >= 4 || (hits >= 3 && hits * 2 >= nd))
                    printf "  %s: %d lines of %s (%d in a row)\n",
                        file, hits, n, best
            }
            FNR == NR { d[$0] = 1; nd++; next }
            FNR == 1 { if (file != "") report(); file = FILENAME
                       run = best = hits = 0; delete seen }
            { sub(/^[ \t]+/, ""); sub(/[ \t\r]+$/, "") }
            length($0) < 16 { next }
            $0 in d { if (!($0 in seen)) hits++; seen[$0] = 1
                      if (++run > best) best = run; next }
            { run = 0 }
            END { if (file != "") report() }' "$tmp/distinct" <"$tmp/files")
    done < <(find "$SOLDIR" -type f)
    rm -rf "$tmp"
}
normalize() {
    sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | awk 'length($0) >= 16'
}

cmd_handout() {
    local out=${1:-svrtut-handout.tar.gz} tmp name=svrtut-handout found first
    [ -d "$SOLDIR" ] || die "no solutions/ here: this is already a student copy"
    case $out in /*) ;; *) out=$PWD/$out ;; esac
    mkdir -p "$(dirname "$out")"
    tmp=$(mktemp -d -p "$WORK")
    echo "  HANDOUT $out"
    mkdir -p "$tmp/$name"
    (cd "$TOP" && repo_files | tar -cf - -T - | tar -xf - -C "$tmp/$name")
    tar -czf "$out" -C "$tmp" "$name"
    rm -rf "${tmp:?}/$name"

    # Check the tarball itself, as a student receives it.
    mkdir "$tmp/x"
    tar -xzf "$out" -C "$tmp/x"
    if [ -e "$tmp/x/$name/solutions" ]; then
        echo "handout: solutions/ is in the tarball" >&2
        exit 1
    fi
    found=$(leaks "$tmp/x/$name")
    if [ -n "$found" ]; then
        printf 'handout: solution content in the tarball:\n%s\n' "$found" >&2
        exit 1
    fi
    # The leak detector must be able to fail: plant a solution and see.
    first=$(find "$SOLDIR" -name '*.c' | head -n 1)
    if [ -n "$first" ]; then
        cp "$first" "$tmp/x/$name/planted.c"
        [ -n "$(leaks "$tmp/x/$name")" ] ||
            die "the leak check missed a planted solution file"
        rm "$tmp/x/$name/planted.c"
    fi
    echo "  HANDOUT no solution content in $(tar -tzf "$out" | grep -vc '/$') files"

    # make, make progress and make check-exercise work in the student copy.
    first=$(list_ids | head -n 1)
    (
        cd "$tmp/x/$name"
        unset MAKEFLAGS MFLAGS
        make -j2 >"$tmp/make.log" 2>&1 ||
            { cat "$tmp/make.log"; die "make fails in the handout"; }
        make --no-print-directory progress >"$tmp/progress.log" 2>&1 ||
            { cat "$tmp/progress.log"; die "make progress fails in the handout"; }
        grep -q "^Next: $first" "$tmp/progress.log" ||
            { cat "$tmp/progress.log"; die "make progress does not point to $first"; }
        if make --no-print-directory check-exercise EX="$first" \
            >"$tmp/ex.log" 2>&1; then
            die "check-exercise passes on the handout's skeleton of $first"
        fi
        grep -q '    hint: ' "$tmp/ex.log" ||
            { cat "$tmp/ex.log"; die "check-exercise printed no hints"; }
    )
    echo "  HANDOUT make, make progress, make check-exercise EX=$first work"
}

# --- diff -------------------------------------------------------------------
# Files of a chapter worth comparing: sources, Makefile, scripts, docs.
chapter_files() {
    (cd "$1" && find . -type f \( -name '*.[ch]' -o -name Makefile -o \
        -name '*.sh' -o -name '*.md' \) ! -path './.proof/*' |
        sed 's|^\./||' | sort)
}
# The name a file is paired by: versions dropped, so echosvr_v1.c and
# echosvr_v2.c are one file growing.
pair_key() { sed -E 's/_v[0-9]+(\.[a-z]+)$/\1/'; }

cmd_diff() {
    local from=${1:-} to=${2:-} a b f k pa pb
    [ -n "$to" ] || die "usage: make diff FROM=<dir> TO=<dir>"
    if [ -z "$from" ]; then # the chapter before TO
        # course order, as the top Makefile lists the chapters
        from=$(make -s -C "$TOP" print-chapters | tr ' ' '\n' |
            awk -v t="${to%/}" '$0 == t { print p } { p = $0 }')
        [ -n "$from" ] || die "no chapter before $to: give FROM=<dir>"
    fi
    for d in "$from" "$to"; do
        [ -d "$TOP/$d" ] || die "no directory $d (try: $(cd "$TOP" && ls -d ch*/ | tr '\n' ' '))"
    done
    a=$WORK/from b=$WORK/to
    chapter_files "$TOP/$from" | while read -r f; do
        printf '%s|%s\n' "$(echo "$f" | pair_key)" "$f"; done | sort >"$a"
    chapter_files "$TOP/$to" | while read -r f; do
        printf '%s|%s\n' "$(echo "$f" | pair_key)" "$f"; done | sort >"$b"
    # A program renamed (echosvr_v1.c -> echosvr_idle.c): pair each
    # unpaired .c file of TO with the unpaired one of FROM that shares the
    # longest prefix, at least 4 characters.
    join -t '|' -v 1 "$a" "$b" | cut -d '|' -f 2 | grep '\.c$' >"$a.left" || true
    join -t '|' -v 2 "$a" "$b" | grep '\.c$' >"$a.right" || true
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
        awk -F '|' -v OFS='|' -v f="$best" -v k="$k" \
            '$2 == f { $1 = k } { print }' "$a" | sort >"$a.new"
        mv "$a.new" "$a"
        grep -vxF "$best" "$a.left" >"$a.new" || true
        mv "$a.new" "$a.left"
    done <"$a.right"
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
                --label "${fb:+b/$to/}${fb:-/dev/null}" \
                "$pa" "$pb" || true
        done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
check) cmd_check "$@" ;;
progress) cmd_progress ;;
grade) cmd_grade "$@" ;;
prove) cmd_prove "$@" ;;
sums) cmd_sums "$@" ;;
handout) cmd_handout "$@" ;;
diff) cmd_diff "$@" ;;
list) list_ids ;;
*) die "usage: exercise.sh check ID | progress | grade [DIR] | prove [ID...] | handout FILE | diff FROM TO | sums ID | list" ;;
esac
