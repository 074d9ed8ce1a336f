#!/bin/bash
# reset.sh ID -- put the skeleton of exercise ID back. The learner's files
# (META's `files`) go to exercises/.backup/ID-TIME/ first. The skeleton
# comes from git's HEAD when that holds it (the course repository), else
# from exercises/ID/tests/skeleton/, the copy make handout packs for
# students; either way it must match tests/skeleton.sha256.
set -eu
. "$(dirname "$0")/lib.sh"
id=${1:-}
need_id "$id"
if skeleton_untouched "$id"; then
    echo "exercises/$id is the skeleton already: nothing to reset."
    exit 0
fi

# The skeleton into $WORK/skel, from HEAD or the packed copy.
files=$(meta "$id" files)
mkdir -p "$WORK/skel"
from=""
if git -C "$TOP" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    from="git HEAD"
    for f in $files; do
        git -C "$TOP" show "HEAD:exercises/$id/$f" >"$WORK/skel/$f" 2>/dev/null ||
            from=""
    done
    [ -z "$from" ] || (cd "$WORK/skel" &&
        sha256sum --quiet -c "$EXDIR/$id/tests/skeleton.sha256") >/dev/null 2>&1 ||
        from=""
fi
if [ -z "$from" ] && [ -d "$EXDIR/$id/tests/skeleton" ]; then
    from="exercises/$id/tests/skeleton/"
    for f in $files; do cp "$EXDIR/$id/tests/skeleton/$f" "$WORK/skel/$f"; done
    (cd "$WORK/skel" && sha256sum --quiet -c "$EXDIR/$id/tests/skeleton.sha256") \
        >/dev/null 2>&1 || from=""
fi
[ -n "$from" ] || die "no copy of the skeleton of $id found (git HEAD holds" \
    "another version, and there is no exercises/$id/tests/skeleton/)"

backup=exercises/.backup/$id-$(date +%Y%m%d-%H%M%S)
mkdir -p "$TOP/$backup"
for f in $files; do
    [ ! -f "$EXDIR/$id/$f" ] || cp -p "$EXDIR/$id/$f" "$TOP/$backup/$f"
    cp "$WORK/skel/$f" "$EXDIR/$id/$f"
done
echo "exercises/$id: skeleton restored (from $from); your files are in $backup/"
