#!/bin/sh
# deps.sh -- make sure libevent, Check and pkg-config are installed.
# usage: deps.sh install|check PACKAGE...
#        deps.sh optional PKG-CONFIG-NAME PACKAGE...
# With everything present it prints nothing. Otherwise `install`, run as
# root, installs the Debian/Ubuntu packages given; in every other case it
# prints the exact command to run and fails.
set -eu
mode=$1
shift

# An optional extra (gperftools for `make profile`): installed when asked
# and possible, otherwise a hint; never a failure.
if [ "$mode" = optional ]; then
    pc=$1
    shift
    pkg-config --exists "$pc" 2>/dev/null && exit 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $* (optional) ..."
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" ||
            echo "optional packages $* not installed; carrying on" >&2
    else
        echo "optional: sudo apt-get install -y $*" >&2
    fi
    exit 0
fi

if command -v pkg-config >/dev/null 2>&1 &&
   pkg-config --exists libevent check 2>/dev/null; then
    exit 0
fi

if [ "$mode" != install ] || [ "$(id -u)" -ne 0 ]; then
    echo "svrtut needs libevent, Check and pkg-config. Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y $*" >&2
    [ "$mode" = install ] || echo "(or run: make deps, as root)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "svrtut needs libevent, Check and pkg-config (with their headers)" \
         "and this system has no apt-get: install them with its package" \
         "manager, then run make again." >&2
    exit 1
fi

echo "installing $* ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "$@"
pkg-config --exists libevent check
