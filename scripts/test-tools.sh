#!/bin/bash
# test-tools.sh -- (make check) the instructor's and learner's tools do
# what the READMEs say: grading uses only the learner's files (a tampered
# META or test changes nothing), grade-all writes a roster past a
# submission that does not build, exit statuses through make, make diff's
# messages, make reset, and make handout packing HEAD only and refusing a
# leak. Works in a throw-away git repository holding a copy of this tree.
set -eu
. "$(dirname "$0")/lib.sh"
# The result, for make check's summary line.
result() {
    [ -z "${CHECK_RESULTS:-}" ] || echo "$1 tools" >"$CHECK_RESULTS/suite-tools"
}
if [ ! -d "$SOLDIR" ]; then
    echo "tools: skipped (no solutions/: a student copy)"
    result skip
    exit 0
fi
for tool in python3 git patch; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "tools: skipped: grading and the handout need $tool (apt-get install $tool)"
        result skip
        exit 0
    fi
done
unset MAKEFLAGS MFLAGS
fails=0 n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { # DESCRIPTION COMMAND...: ok if COMMAND succeeds
    local what=$1
    shift
    if "$@" >"$WORK/out" 2>&1; then ok "$what"; else
        not_ok "$what"
        sed 's/^/#   /' "$WORK/out" | tail -n 20
    fi
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# A repository of this tree as it is now (committed or not).
repo=$WORK/repo
mkdir -p "$repo"
(cd "$TOP" && git ls-files --cached --others --exclude-standard |
    while read -r f; do [ -f "$f" ] && echo "$f"; done |
    tar -cf - -T -) | tar -xf - -C "$repo"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=t -c user.email=t@t commit -qm tree
ex=ch3-profile f=echo_read.c

# --- grading --------------------------------------------------------------------
subs=$WORK/subs
mkdir -p "$subs/alice/exercises/$ex/tests" "$subs/bob/exercises/$ex/tests" \
    "$subs/carol/exercises/$ex" "$subs/alice/common"
cp "$SOLDIR/$ex/$f" "$subs/alice/exercises/$ex/$f"
# alice solved it and raised its points in META; bob did not solve it and
# made the tests pass whatever the code; carol's does not compile.
sed 's/^case     fix  3$/case     fix  30/' "$EXDIR/$ex/META" >"$subs/alice/exercises/$ex/META"
echo '/* mine */' >"$subs/alice/common/net.c"
cp "$EXDIR/$ex/$f" "$subs/bob/exercises/$ex/$f"
sed 's/ck_assert_msg(size < MAX_FRAME,/ck_assert_msg(1,/' \
    "$EXDIR/$ex/tests/check_profile.c" >"$subs/bob/exercises/$ex/tests/check_profile.c"
echo 'this is not C' >"$subs/carol/exercises/$ex/$f"
tar -czf "$subs/bob.tar.gz" -C "$subs" bob && rm -rf "$subs/bob"

rc=0
make -s -C "$TOP" grade EX=$ex SUBMISSION="$subs/alice" GRADE_DIR="$WORK/g/alice" \
    >"$WORK/alice.log" 2>&1 || rc=$?
check "make grade exits 0 when every point is earned" test "$rc" -eq 0
check "a tampered META changes no points (alice: 3 of 3)" \
    test "$(json "$WORK/g/alice/grade.json" "d['points'], d['max']")" = "3 3"
check "grade.json names the student, the time and what was ignored" \
    test "$(json "$WORK/g/alice/grade.json" "d['student'], bool(d['time']), sorted(i['path'] for i in d['ignored'])")" \
    = "alice True ['common/net.c', 'exercises/$ex/META']"
rc=0
make -s -C "$TOP" grade EX=$ex SUBMISSION="$subs/bob.tar.gz" GRADE_DIR="$WORK/g/bob" \
    >"$WORK/bob.log" 2>&1 || rc=$?
check "make grade exits 2 when a point is lost (make's status)" test "$rc" -eq 2
check "a tampered test changes no points (bob, a tarball: 0 of 3)" \
    test "$(json "$WORK/g/bob/grade.json" "d['student'], d['points'], d['max']")" = "bob 0 3"
rc=0
"$TOP/scripts/grade.py" grade --only $ex --submission "$subs/bob.tar.gz" \
    --out "$WORK/g/bob2" >/dev/null 2>&1 || rc=$?
check "scripts/grade.py grade exits 1 when a point is lost" test "$rc" -eq 1
rc=0
"$TOP/scripts/grade.py" grade --submission "$WORK/nothing" --out "$WORK/g/x" \
    >/dev/null 2>&1 || rc=$?
check "scripts/grade.py grade exits 2 on a submission that is not there" test "$rc" -eq 2
rc=0
make -s -C "$TOP" grade-all EX=$ex SUBMISSIONS="$subs" GRADE_DIR="$WORK/class" \
    >"$WORK/class.log" 2>&1 || rc=$?
check "make grade-all exits 0 once the roster is written" test "$rc" -eq 0
check "the roster has a row per student, carol at zero with the reason" \
    python3 -c '
import csv, sys
rows = {r["student"]: r for r in csv.DictReader(open(sys.argv[1]))}
assert sorted(rows) == ["alice", "bob", "carol"], rows
assert rows["alice"]["points"] == "3" and rows["bob"]["points"] == "0"
assert rows["carol"]["points"] == "0" and "does not build" in rows["carol"]["reason"]
' "$WORK/class/roster.csv"

# --- make diff, make reset -----------------------------------------------------------
rc=0
make -s -C "$TOP" diff FROM=nonsense TO=ch3-echo >"$WORK/d.out" 2>"$WORK/d.err" || rc=$?
check "make diff names a missing directory in one line, exit 2" \
    test "$rc:$(wc -l <"$WORK/d.err"):$(grep -c 'no directory nonsense' "$WORK/d.err")" = "2:2:1"
check "make diff says when two directories do not differ" \
    grep -q 'do not differ' <(make -s -C "$TOP" diff FROM=ch3-echo TO=ch3-echo)
cp "$SOLDIR/$ex/$f" "$repo/exercises/$ex/$f"
check "make reset backs up the learner's file and restores the skeleton" \
    bash -c "make -s -C '$repo' reset EX=$ex &&
        cmp '$repo/exercises/$ex/$f' '$EXDIR/$ex/$f' &&
        cmp '$SOLDIR/$ex/$f' \"\$(ls -d '$repo'/exercises/.backup/$ex-*)/$f\""

# --- colour -----------------------------------------------------------------------
check "check-exercise prints no colour into a pipe" \
    bash -c "! make -s -C '$repo' check-exercise EX=$ex 2>&1 | grep -q \$'\\033'"
check "nor with NO_COLOR on a terminal (script(1) gives it one)" \
    bash -c "! command -v script >/dev/null ||
        ! NO_COLOR=1 script -qec 'make -s -C $repo check-exercise EX=$ex' /dev/null |
            grep -q \$'\\033'"
check "and colour on a terminal without NO_COLOR, so the test can fail" \
    bash -c "! command -v script >/dev/null ||
        env -u NO_COLOR script -qec 'make -s -C $repo check-exercise EX=$ex' /dev/null |
            grep -q \$'\\033'"

# --- make handout -----------------------------------------------------------------
cp "$SOLDIR/$ex/$f" "$repo/exercises/$ex/$f" # solved, not committed
rc=0
make -s -C "$repo" handout HANDOUT="$WORK/h.tgz" >"$WORK/h.log" 2>&1 || rc=$?
check "make handout works, and says uncommitted changes are not packed" \
    bash -c "[ $rc -eq 0 ] && grep -q 'uncommitted changes are not packed' '$WORK/h.log'"
check "the handout holds the committed skeleton, not the working tree's answer" \
    bash -c "tar -xOzf '$WORK/h.tgz' svrtut-handout/exercises/$ex/$f | cmp - '$EXDIR/$ex/$f'"
check "the handout has no solutions/ and no instructor-only README part" \
    bash -c "! tar -tzf '$WORK/h.tgz' | grep -q '/solutions/' &&
        ! tar -xOzf '$WORK/h.tgz' svrtut-handout/README.md | grep -q 'For instructors'"
"$TOP/scripts/leaks.py" --sample "$SOLDIR/ch3-rate-limit/bucket.c" "$repo" \
    >>"$repo/ch3-timeout/echosvr_v2.c"
git -C "$repo" -c user.name=t -c user.email=t@t commit -qam leak
rc=0
make -s -C "$repo" handout HANDOUT="$WORK/h2.tgz" >"$WORK/h2.log" 2>&1 || rc=$?
check "make handout refuses three lines of a solution in a chapter file" \
    bash -c "[ $rc -ne 0 ] && grep -q 'ch3-timeout/echosvr_v2.c' '$WORK/h2.log'"
check "... and removes its tarball" test ! -e "$WORK/h2.tgz"
printf '<!-- instructor-only -->\nthe answers\n' >>"$repo/ch3-echo/README.md"
git -C "$repo" -c user.name=t -c user.email=t@t commit -qam unended
rc=0
make -s -C "$repo" handout HANDOUT="$WORK/h3.tgz" >"$WORK/h3.log" 2>&1 || rc=$?
check "make handout refuses an instructor-only part that never ends" \
    bash -c "[ $rc -ne 0 ] && grep -q 'never ends' '$WORK/h3.log' && [ ! -e '$WORK/h3.tgz' ]"

echo "1..$n"
if [ "$fails" -eq 0 ]; then
    echo "tools: all $n checks passed"
    result pass
else
    echo "tools: $fails of $n checks failed"
    result fail
    exit 1
fi
