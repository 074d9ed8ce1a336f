#!/bin/bash
# handout.sh FILE -- the student copy: the committed tree (HEAD, never the
# working tree) without solutions/, README parts marked instructor-only
# cut, then checked as a student receives it: no solution content in any
# file (chapters included), no link to a file it lacks, and make, make
# progress and make check-exercise work in it. FILE is removed when any
# check fails.
#
# In Markdown, lines from "<!-- instructor-only -->" to
# "<!-- /instructor-only -->" are left out of the handout, and a line
# "<!-- handout: TEXT -->" becomes TEXT.
set -eu
. "$(dirname "$0")/lib.sh"
out=${1:-svrtut-handout.tar.gz}
name=svrtut-handout
[ -d "$SOLDIR" ] || die "no solutions/ here: this is already a student copy"
git -C "$TOP" rev-parse --verify -q HEAD >/dev/null ||
    die "make handout packs the committed tree: this is not a git tree"
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$(dirname "$out")"

failed() {
    echo "handout: $*; $out removed" >&2
    rm -f "$out"
    exit 1
}

rev=$(git -C "$TOP" rev-parse --short HEAD)
note=""
[ -z "$(git -C "$TOP" status --porcelain --untracked-files=no)" ] ||
    note=" (uncommitted changes are not packed)"
echo "  HANDOUT packing HEAD $rev into $out$note"
mkdir -p "$WORK/pack/$name"
git -C "$TOP" archive HEAD | tar -x -C "$WORK/pack/$name"
rm -rf "$WORK/pack/$name/solutions"
find "$WORK/pack/$name" -name '*.md' | while read -r md; do
    awk '/^<!-- instructor-only -->$/ { cut = 1; next }
         /^<!-- \/instructor-only -->$/ { cut = 0; next }
         cut { next }
         /^<!-- handout: .* -->$/ { sub(/^<!-- handout: /, ""); sub(/ -->$/, "") }
         { print }
         END { exit cut }' "$md" >"$md.new" ||
        failed "${md#"$WORK/pack/$name"/}: an instructor-only part never ends"
    mv "$md.new" "$md"
done
# A copy of each skeleton, for make reset in a tree without git.
for id in $(list_ids); do
    mkdir -p "$WORK/pack/$name/exercises/$id/tests/skeleton"
    for f in $(meta "$id" files); do
        git -C "$TOP" show "HEAD:exercises/$id/$f" \
            >"$WORK/pack/$name/exercises/$id/tests/skeleton/$f"
    done
done
tar -czf "$out" -C "$WORK/pack" "$name"

# Check the tarball itself, as a student receives it.
x=$WORK/x/$name
mkdir -p "$WORK/x"
tar -xzf "$out" -C "$WORK/x"
[ ! -e "$x/solutions" ] || failed "solutions/ is in the tarball"
if ! "$TOP/scripts/leaks.py" "$x" >"$WORK/leaks"; then
    cat "$WORK/leaks" >&2
    failed "solution content in the tarball (above)"
fi
# The leak check must be able to fail: a planted copy of a solution, and
# three of a solution's lines planted in a chapter file, must be caught.
sol=$(find "$SOLDIR" -mindepth 2 -maxdepth 2 -name '*.c' | sort | head -n 1)
cp "$sol" "$x/planted.c"
"$TOP/scripts/leaks.py" "$x" >/dev/null && failed "the leak check missed a planted copy of $sol"
rm "$x/planted.c"
cp "$x/ch3-echo/echosvr_v1.c" "$WORK/v1.c"
"$TOP/scripts/leaks.py" --sample "$sol" "$x" >>"$x/ch3-echo/echosvr_v1.c" ||
    failed "no three lines of $sol to plant: is it the skeleton?"
"$TOP/scripts/leaks.py" "$x" >/dev/null &&
    failed "the leak check missed three lines of $sol planted in ch3-echo/echosvr_v1.c"
cp "$WORK/v1.c" "$x/ch3-echo/echosvr_v1.c"
echo "  HANDOUT no solution content in $(find "$x" -type f | wc -l) files" \
    "(and the check catches a planted one)"

# Every relative Markdown link leads to a file of the handout, and no page
# sends students to solutions/.
(cd "$x" && grep -rn --include='*.md' 'solutions/' .) >"$WORK/refs" || true
[ ! -s "$WORK/refs" ] || { cat "$WORK/refs" >&2; failed "READMEs name solutions/ (above)"; }
find "$x" -name '*.md' | while read -r md; do
    grep -o '\]([^)#]*' "$md" | sed 's/^](//' | grep -Ev '^(https?:|mailto:|$)' |
        while read -r link; do
            [ -e "$(dirname "$md")/$link" ] || echo "  ${md#"$x"/}: $link"
        done
done >"$WORK/links"
[ ! -s "$WORK/links" ] || { cat "$WORK/links" >&2; failed "links to files the handout lacks (above)"; }
echo "  HANDOUT every link of its READMEs leads to one of its files"

# make, make progress, make check-exercise and make reset work in the
# student copy.
first=$(list_ids | head -n 1)
(
    cd "$x"
    unset MAKEFLAGS MFLAGS CHECK_RESULTS
    make -j2 >"$WORK/make.log" 2>&1 ||
        { cat "$WORK/make.log"; exit 1; }
    make --no-print-directory progress >"$WORK/progress.log" 2>&1 ||
        { cat "$WORK/progress.log"; exit 1; }
    grep -q "^Next: $first" "$WORK/progress.log" ||
        { cat "$WORK/progress.log"; echo "make progress does not point to $first"; exit 1; }
    if make --no-print-directory check-exercise EX="$first" >"$WORK/ex.log" 2>&1; then
        echo "check-exercise passes on the skeleton of $first"
        exit 1
    fi
    grep -q 'hint: ' "$WORK/ex.log" ||
        { cat "$WORK/ex.log"; echo "check-exercise printed no hint"; exit 1; }
    echo "/* mine */" >>"exercises/$first/$(meta "$first" files | cut -d ' ' -f 1)"
    make --no-print-directory reset EX="$first" ||
        { echo "make reset fails in the handout"; exit 1; }
) >"$WORK/student.log" 2>&1 || { cat "$WORK/student.log" >&2; failed "the student copy does not work"; }
echo "  HANDOUT make, make progress, make check-exercise and make reset" \
    "EX=$first work in it"
echo "  HANDOUT wrote $out"
