#!/bin/bash
# reset.sh ID -- put the skeleton of exercise ID back: the learner's files
# (META's `files`) go to exercises/.backup/ID-TIME/ first, and the
# skeleton comes from git (the committed version, HEAD).
. "$(dirname "$0")/lib.sh"
id=${1:-}
need_id "$id"
git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1 ||
    die "no git repository here: the skeleton comes from git"
if skeleton_untouched "$id"; then
    echo "exercises/$id is the skeleton already: nothing to reset."
    exit 0
fi
backup=exercises/.backup/$id-$(date +%Y%m%d-%H%M%S)
mkdir -p "$TOP/$backup"
for f in $(meta "$id" files); do
    [ -f "$EXDIR/$id/$f" ] && cp -p "$EXDIR/$id/$f" "$TOP/$backup/$f"
    git -C "$TOP" show "HEAD:exercises/$id/$f" >"$EXDIR/$id/$f"
done
skeleton_untouched "$id" ||
    die "exercises/$id/tests/skeleton.sha256 does not match the committed skeleton"
echo "exercises/$id: skeleton restored; your files are in $backup/"
