# shellcheck shell=bash
# lib.sh -- sourced by the exercise scripts: paths, META, building and
# running an exercise's tests, reading their TAP.
#
# exercises/ID/META holds one key per line (see exercises/README.md);
# solutions/ID holds the reference versions of META's `files` and the
# typical wrong answers, wrong/NAME.patch. Knobs such as WERROR and
# SANITIZE reach the builds through MAKEFLAGS, as in any sub-make.
set -eu

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXDIR=$TOP/exercises
SOLDIR=$TOP/solutions
SCRATCH=$EXDIR/.proof
MAKE=${MAKE:-make}
. "$TOP/scripts/colour.sh"
# Build products that never belong in a copy of an exercise.
BUILD_JUNK='\.(o|d|a|su)$|(^|/)\.build-flags$|(^|/)tests/(runner|suites\.inc|badecho)$'

die() {
    echo "$(basename "$0"): $*" >&2
    exit 2
}

# Temporary files of this run, removed however it ends.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# --- metadata ---------------------------------------------------------------
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
    [ -n "${1:-}" ] ||
        die "which exercise? EX=<id>, one of: $(list_ids | tr '\n' ' ')"
    [ -f "$EXDIR/$1/META" ] ||
        die "no exercise '$1'; there are: $(list_ids | tr '\n' ' ')"
}
skeleton_untouched() { # ID: the learner's files still match the skeleton
    (cd "$EXDIR/$1" && sha256sum --quiet -c tests/skeleton.sha256) \
        >/dev/null 2>&1
}

# --- running the tests --------------------------------------------------------
# run_tests DIR TAP LOG [TOPDIR]: build DIR's programs and runner against
# TOPDIR's common/ (default ours), run the runner with its TAP log in TAP;
# the build's and the runner's output go to LOG. 0 if all passed, 1 if
# some failed, 2 if it does not build or the runner wrote no results.
run_tests() {
    local dir=$1 tap=$2 log=$3 top=${4:-$TOP}
    rm -f "$tap"
    if ! $MAKE --no-print-directory -C "$dir" TOP="$top" all tests/runner \
        >"$log" 2>&1; then
        return 2
    fi
    (cd "$dir" && CK_VERBOSITY=silent CK_TAP_LOG_FILE_NAME="$tap" \
        ./tests/runner) >>"$log" 2>&1 && return 0
    [ -s "$tap" ] || return 2
    return 1
}

# tap_results TAP: Check's TAP ("not ok 3 - FILE:CASE:TEST: message",
# continuation lines after it) as one tab-separated line per test:
#   STATUS CASE TEST NAME MESSAGE SERVER STDERR
# STATUS is ok or fail; TEST is the function, NAME the same with the
# loop index when a test runs more than once (test_stop[1]); SERVER and
# STDERR come from the "server:" and "stderr:" lines common/tests/fixture.c
# adds to a failure (fixture_assert, fixture_fail_with), the
# stderr lines joined by " | ".
tap_results() {
    awk -F '\t' 'BEGIN { OFS = "\t" }
        function flush() {
            if (test != "")
                print st, tcase, test, name, msg, server, err
            test = ""
        }
        /^(not )?ok [0-9]+ - / {
            line = $0
            sub(/^(not )?ok [0-9]+ - /, "", line)
            split(line, f, ":")
            if (FNR == NR) { count[f[3]]++; next }
            flush()
            st = /^not / ? "fail" : "ok"
            tcase = f[2]; test = f[3]; name = test
            if (count[test] > 1) name = test "[" idx[test]++ "]"
            msg = line; sub(/^[^:]*:[^:]*:[^:]*: ?/, "", msg)
            server = ""; err = ""
            next
        }
        FNR == NR || /^1\.\.[0-9]+$/ { next }
        /^server: / { server = substr($0, 9); next }
        /^stderr: / { err = err (err == "" ? "" : " | ") substr($0, 9); next }
        test != "" && $0 != "" { msg = msg " " $0 }
        END { flush() }' "$1" "$1" | tr -d '\r'
}

# copy_if_changed SRC DST: unchanged files keep their time stamps, so
# repeated proofs rebuild only what changed.
copy_if_changed() {
    mkdir -p "$(dirname "$2")"
    cmp -s "$1" "$2" 2>/dev/null || cp "$1" "$2"
}

# exercise_files ID: the files of exercises/ID that make it up (no build
# products, no checksums).
exercise_files() {
    (cd "$EXDIR/$1" && find . -type f ! -path './tests/skeleton.sha256' |
        sed 's|^\./||' | grep -Ev "$BUILD_JUNK" |
        grep -vxF -f <(sed 's|^/||' .gitignore 2>/dev/null || true))
}

# proof_copy ID KIND: a copy of exercises/ID in exercises/.proof/ID/KIND
# with solutions/ID's files laid over it unless KIND is skeleton; its
# path.
proof_copy() {
    local dst=$SCRATCH/$1/$2 f
    mkdir -p "$dst"
    exercise_files "$1" | while read -r f; do
        copy_if_changed "$EXDIR/$1/$f" "$dst/$f"
    done
    if [ "$2" != skeleton ]; then
        for f in $(meta "$1" files); do
            copy_if_changed "$SOLDIR/$1/$f" "$dst/$f"
        done
    fi
    echo "$dst"
}
