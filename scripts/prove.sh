#!/bin/bash
# prove.sh ID... -- (make check) each exercise's tests bite: in copies
# under exercises/.proof/ID/, the solution passes every test; the
# skeleton builds and fails at least one test of every test case, and
# every test but META's guards; each typical wrong answer
# (solutions/ID/wrong/NAME.patch, applied to the solution) fails the test
# its "Caught by:" line names. Each proof's result goes to
# $CHECK_RESULTS/prove-ID (when set) for make check's summary.
set -eu
. "$(dirname "$0")/lib.sh"

fail() {
    echo "  ${red}FAIL${plain}    $id: $*"
    bad=1
}
record() { # KIND NAME STATUS: one proof's result, for the summary
    [ -z "${CHECK_RESULTS:-}" ] ||
        printf '%s %s %s\n' "$3" "$id" "$1${2:+ $2}" >>"$CHECK_RESULTS/prove-$id"
}

copy_to() { proof_copy "$id" "$1"; }

# check_meta RESULTS: META, the tests and the solution agree.
check_meta() {
    local f tcase test
    for f in README.md HINTS.md tests/skeleton.sha256; do
        [ -s "$EXDIR/$id/$f" ] || fail "exercises/$id/$f is missing"
    done
    for f in title chapter section order files size reread run dies; do
        [ -n "$(meta "$id" $f)" ] || fail "META has no '$f' line"
    done
    for f in $(meta "$id" files); do
        [ -f "$SOLDIR/$id/$f" ] || fail "solutions/$id/$f is missing"
    done
    skeleton_untouched "$id" ||
        fail "the skeleton differs from tests/skeleton.sha256" \
            "(after changing it on purpose: scripts/sums.sh $id)"
    for tcase in $(cut -f 2 "$1" | sort -u); do
        meta_cases "$id" | grep -q "^$tcase " ||
            fail "test case '$tcase' has no 'case' line in META"
    done
    while read -r tcase _; do
        cut -f 2 "$1" | grep -qx "$tcase" ||
            fail "META lists case '$tcase', which has no tests"
    done < <(meta_cases "$id")
    for test in $(cut -f 3 "$1" | sort -u); do
        [ -n "$(meta_hint "$id" "$test")" ] ||
            fail "test $test has no hint line in META"
    done
}

prove_solution() {
    local dir rc=0
    dir=$(copy_to solution)
    run_tests "$dir" "$WORK/tap" "$WORK/log" || rc=$?
    tap_results "$WORK/tap" >"$WORK/solution" 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        cat "$WORK/log" >&2
        fail "the solution does not pass its tests"
        record solution "" fail
        return 1
    fi
    echo "  PROVE   $id: solution passes all $(wc -l <"$WORK/solution") tests"
    check_meta "$WORK/solution"
    record solution "" "$([ "$bad" -eq 0 ] && echo pass || echo fail)"
}

prove_skeleton() {
    local dir rc=0 tcase test before=$bad
    dir=$(copy_to skeleton)
    run_tests "$dir" "$WORK/tap" "$WORK/log" || rc=$?
    tap_results "$WORK/tap" >"$WORK/res" 2>/dev/null || true
    if [ "$rc" -eq 2 ]; then
        cat "$WORK/log" >&2
        fail "the skeleton does not build"
    elif [ "$rc" -eq 0 ]; then
        fail "the skeleton passes every test"
    else
        for tcase in $(meta_cases "$id" | awk '{ print $1 }'); do
            grep -q "^fail	$tcase	" "$WORK/res" ||
                fail "test case $tcase passes on the skeleton"
        done
        for test in $(awk -F '\t' '$1 == "ok" { print $3 }' "$WORK/res" | sort -u); do
            meta_guards "$id" | grep -qx "$test" ||
                fail "$test passes on the skeleton (a test that cannot" \
                    "fail; or declare it a guard in META)"
        done
        echo "  PROVE   $id: skeleton fails $(grep -c '^fail' "$WORK/res")" \
            "of $(wc -l <"$WORK/res") tests, as expected$(meta_guards "$id" |
                awk 'NR == 1 { printf " (guards pass:" } { printf " %s", $0 }
                     END { if (NR) printf ")" }')"
    fi
    record skeleton "" "$([ "$bad" -eq "$before" ] && echo pass || echo fail)"
}

# prove_wrong PATCH: the wrong answer builds and fails the test it names.
prove_wrong() {
    local patch=$1 name dir want tcase rc=0 caught
    name=$(basename "$patch" .patch)
    want=$(sed -n 's/^Caught by: *//p' "$patch" | head -n 1)
    tcase=$(awk -F '\t' -v t="$want" '$3 == t { print $2; exit }' "$WORK/solution")
    if [ -z "$want" ] || [ -z "$tcase" ]; then
        fail "wrong answer $name: its 'Caught by:' line names no test of $id"
        record wrong "$name" fail
        return
    fi
    if ! command -v patch >/dev/null 2>&1; then
        fail "wrong answer $name: needs patch(1) (apt-get install patch)"
        record wrong "$name" fail
        return
    fi
    dir=$(copy_to "wrong-$name")
    if ! patch -s -p1 -d "$dir" <"$patch"; then
        fail "wrong answer $name: the patch does not apply to the solution"
        record wrong "$name" fail
        return
    fi
    # Only the test case of the named test: enough to see it caught.
    CK_RUN_CASE=$tcase run_tests "$dir" "$WORK/tap" "$WORK/log" || rc=$?
    tap_results "$WORK/tap" >"$WORK/res" 2>/dev/null || true
    caught=$(awk -F '\t' '$1 == "fail" { print $3 }' "$WORK/res" | sort -u |
        tr '\n' ' ')
    # The patched copy keeps the solution's time stamps otherwise.
    rm -rf "$dir"
    if [ "$rc" -eq 2 ]; then
        cat "$WORK/log" >&2
        fail "wrong answer $name does not build"
    elif ! grep -q "^fail	$tcase	$want	" "$WORK/res"; then
        fail "wrong answer $name is not caught by $want" \
            "(failing: ${caught:-none})"
    else
        echo "  PROVE   $id: wrong answer $name caught by $want" \
            "(failing in case $tcase: ${caught% })"
        record wrong "$name" pass
        return
    fi
    record wrong "$name" fail
}

prove_one() {
    local patch n=0
    bad=0
    [ -d "$SOLDIR/$id" ] || { fail "no solutions/$id"; record solution "" fail; return 1; }
    prove_solution || return 1
    prove_skeleton
    for patch in "$SOLDIR/$id"/wrong/*.patch; do
        [ -e "$patch" ] || continue
        prove_wrong "$patch"
        n=$((n + 1))
    done
    [ "$n" -ge 3 ] || fail "only $n wrong answers in solutions/$id/wrong (3 or more)"
    return $bad
}

if [ ! -d "$SOLDIR" ]; then
    echo "  PROVE   skipped: no solutions/ (a student copy)"
    [ -z "${CHECK_RESULTS:-}" ] || echo "skip all exercises" >"$CHECK_RESULTS/prove-all"
    exit 0
fi
# shellcheck disable=SC2046 # ids are single words
[ $# -gt 0 ] || set -- $(list_ids)
status=0
for id in "$@"; do
    need_id "$id"
    [ -z "${CHECK_RESULTS:-}" ] || rm -f "$CHECK_RESULTS/prove-$id"
    prove_one || status=1
done
exit $status
