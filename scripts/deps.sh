#!/bin/sh
# deps.sh -- make sure libevent, Check, libcrypto, pkg-config and (for the
# WebSocket tests) Python's websockets are installed.
# usage: deps.sh install|check PACKAGE...
#        deps.sh optional PKG-CONFIG-NAME PACKAGE...
#        deps.sh optional-command COMMAND PACKAGE...
#        deps.sh optional-tool PROBE PACKAGE...
# With everything present it prints nothing. Otherwise `install`, run as
# root, installs the Debian/Ubuntu packages given; in every other case it
# prints the exact command to run and fails.
set -eu
mode=$1
shift

# An optional extra (gperftools for `make profile`, chromium, clang's
# libFuzzer for `make fuzz`, valgrind for `make memcheck`, gnuplot for
# `make bench`): installed when asked and possible, otherwise a hint;
# never a failure. It is there when
# pkg-config knows it (optional), when COMMAND is on the PATH
# (optional-command) or when the shell command PROBE succeeds
# (optional-tool).
if [ "$mode" = optional ] || [ "$mode" = optional-command ] ||
   [ "$mode" = optional-tool ]; then
    what=$1
    shift
    if [ "$mode" = optional ]; then
        pkg-config --exists "$what" 2>/dev/null && exit 0
    elif [ "$mode" = optional-command ]; then
        command -v "$what" >/dev/null 2>&1 && exit 0
    else
        sh -c "$what" >/dev/null 2>&1 && exit 0
    fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $* (optional) ..."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" ||
            echo "optional packages $* not installed; carrying on" >&2
    else
        echo "optional: sudo apt-get install -y $*" >&2
    fi
    exit 0
fi

# A build (check) needs the libraries; the tests (install: make deps,
# which make check runs) also the distribution's python3 with
# python3-websockets.
have_libs() {
    command -v pkg-config >/dev/null 2>&1 &&
        pkg-config --exists libevent check libcrypto 2>/dev/null
}
have_all() {
    have_libs && /usr/bin/python3 -c 'import websockets' 2>/dev/null
}
if [ "$mode" = check ]; then
    have_libs && exit 0
else
    have_all && exit 0
fi

if [ "$mode" != install ] || [ "$(id -u)" -ne 0 ]; then
    echo "svrtut needs libevent, Check, libcrypto, pkg-config and Python's" \
         "websockets. Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y $*" >&2
    [ "$mode" = install ] || echo "(or run: make deps, as root)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "svrtut needs libevent, Check, libcrypto, pkg-config (with their" \
         "headers) and Python's websockets" \
         "and this system has no apt-get: install them with its package" \
         "manager, then run make again." >&2
    exit 1
fi

echo "installing $* ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "$@"
have_all
