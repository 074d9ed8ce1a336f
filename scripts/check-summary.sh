#!/bin/sh
# check-summary.sh DIR -- the last line of make check: how many test
# suites and exercise proofs passed and failed, from the files the check
# targets and scripts/prove.sh left in DIR ("pass|fail NAME..." lines).
set -eu
dir=$1
cat "$dir"/suite-* 2>/dev/null >"$dir/all.suites" || true
cat "$dir"/prove-* 2>/dev/null >"$dir/all.proofs" || true
count() { grep -c "^$1 " "$2" || true; }
failed() { sed -n "s/^fail //p" "$1" | tr '\n' ',' | sed 's/,$//; s/,/, /g'; }
sp=$(count pass "$dir/all.suites") sf=$(count fail "$dir/all.suites")
pp=$(count pass "$dir/all.proofs") pf=$(count fail "$dir/all.proofs")
line="check: $sp test suites passed, $sf failed; $pp exercise proofs passed, $pf failed"
skipped=$(cat "$dir/all.suites" "$dir/all.proofs" | sed -n 's/^skip //p' |
    tr '\n' ',' | sed 's/,$//; s/,/, /g')
[ -z "$skipped" ] || line="$line; skipped: $skipped"
[ "$sf" -eq 0 ] || line="$line; failed suites: $(failed "$dir/all.suites")"
[ "$pf" -eq 0 ] || line="$line; failed proofs: $(failed "$dir/all.proofs")"
echo "$line"
