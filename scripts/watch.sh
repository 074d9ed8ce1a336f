#!/bin/bash
# watch.sh ID -- run make check-exercise EX=ID now and again each time
# one of the exercise's files is saved, until Ctrl-C. With inotifywait
# (package inotify-tools: make deps WITH=inotify) it reacts at once;
# without, it compares time stamps every second.
set -eu
. "$(dirname "$0")/lib.sh"
id=${1:-}
need_id "$id"
dir=$EXDIR/$id

# The newest time stamp among the sources, headers and Makefile.
stamp() {
    find "$dir" -maxdepth 2 \( -name '*.[ch]' -o -name Makefile \) \
        -printf '%T@\n' | sort -n | tail -n 1
}
wait_for_save() {
    if command -v inotifywait >/dev/null 2>&1; then
        # close_write and moved_to: editors that save by renaming, too.
        # Build products are written here as well: wait on for a source.
        local f
        while f=$(inotifywait -q -r -e close_write -e moved_to \
            --format '%w%f' "$dir"); do
            case $f in *.[ch] | */Makefile) return ;; esac
        done
    else
        local before
        before=$(stamp)
        while [ "$(stamp)" = "$before" ]; do sleep 1; done
    fi
}

command -v inotifywait >/dev/null 2>&1 ||
    echo "(no inotifywait: checking for saved files every second;" \
        "make deps WITH=inotify installs it)"
while :; do
    "$TOP/scripts/check-exercise.sh" "$id" || true
    echo "${cyan}-- watching exercises/$id; save a file to run again," \
        "Ctrl-C to stop${plain}"
    wait_for_save
    sleep 0.2 # let an editor finish writing its other files
done
