# shellcheck shell=bash disable=SC2034 # sourced; the names are used by others
# colour.sh -- sourced: bold, cyan, green, red and plain, empty unless
# stdout is a terminal and NO_COLOR is unset (https://no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    bold=$'\033[1m' cyan=$'\033[36m' green=$'\033[32m' red=$'\033[31m'
    plain=$'\033[0m'
else
    bold='' cyan='' green='' red='' plain=''
fi
