#!/bin/bash
# memcheck-solution.sh ID... -- (make memcheck) each exercise's tests, run
# on its reference solution under valgrind: a copy in
# exercises/.proof/ID/memcheck built with MEMCHECK=1 and tested by the
# memcheck target of common/build.mk, which fails a test when any
# process it runs has a memory error or leaks. No solutions/ (a student
# copy): nothing to do.
set -eu
. "$(dirname "$0")/lib.sh"

if [ ! -d "$SOLDIR" ]; then
    echo "  MEMCHECK skipped: no solutions/ (a student copy)"
    exit 0
fi
status=0
for id in "$@"; do
    need_id "$id"
    dir=$(proof_copy "$id" memcheck)
    echo "  MEMCHECK $id (its solution)"
    $MAKE --no-print-directory -C "$dir" TOP="$TOP" MEMCHECK=1 memcheck ||
        status=1
done
exit $status
