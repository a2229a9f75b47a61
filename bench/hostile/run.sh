#!/usr/bin/env bash
# run.sh — every attack of hostile (see main.go) against the node layer of
# two trees, alternating the two binaries, ROUNDS times, then the table of
# medians and ranges.
#
#   git worktree add --detach /tmp/before 85d2fc0   # the tree to compare with
#   BEFORE=/tmp/before ./run.sh
#   BEFORE=/tmp/before ROUNDS=1 ATTACKS="blocked-port dead-node" ./run.sh
#
# "after" is the tree this script is in. The program is copied into
# $BEFORE/bench/hostile and built there. Result lines: $OUT.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BEFORE="${BEFORE:?set BEFORE to a worktree of the tree to compare with}"
ROUNDS="${ROUNDS:-3}"
ATTACKS="${ATTACKS:-idle blocked-port dead-node half-open half-open-greeting claimed-id id-churn}"
OUT="${OUT:-${TMPDIR:-/tmp}/hostile-results.txt}"
BIN="$(mktemp -d)"
trap 'rm -rf "$BIN"' EXIT

mkdir -p "$BEFORE/bench/hostile"
cp "$HERE"/*.go "$BEFORE/bench/hostile/"
(cd "$HERE/.." && go build -o "$BIN/after" ./hostile)
(cd "$BEFORE/bench" && go build -o "$BIN/before" ./hostile)

: >"$OUT"
for round in $(seq "$ROUNDS"); do
	for a in $ATTACKS; do
		for tree in before after; do
			"$BIN/$tree" -attack "$a" -label "$tree" | tee -a "$OUT"
		done
	done
done
echo
"$BIN/after" -summary "$OUT"
