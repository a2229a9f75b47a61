#!/usr/bin/env bash
# benchcmp.sh — the in-process benchmarks of two versions of tether, side by
# side, with benchstat:
#
#   bench/benchcmp.sh main            # main against the work tree as it is
#   bench/benchcmp.sh 675a556 HEAD    # two revisions
#
# It builds the node and rpc test binaries of both versions (a revision is
# taken with git archive; the work tree as it is, uncommitted changes
# included), runs them alternately BENCH_COUNT times (default 6: the machine
# is shared, and alternating spreads its moods over both), and prints
# benchstat's comparison. BENCH_PATTERN picks the benchmarks (default the
# link benchmarks CI runs), BENCH_TIME is each one's -benchtime (default
# 1s). Files: $BENCH_WORK (default a fresh temporary directory).
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 OLD-REVISION [NEW-REVISION]" >&2; exit 2; }
ROOT="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
PATTERN="${BENCH_PATTERN:-PingPong|OneWay|Spread|CallC1\$}"
TIME="${BENCH_TIME:-1s}"
COUNT="${BENCH_COUNT:-6}"
WORK="${BENCH_WORK:-$(mktemp -d)}"
PKGS=(node rpc)

# tree SIDE REV: the source of one side in $WORK/SIDE (REV empty: the work tree).
tree() {
	if [ -z "$2" ]; then
		ln -sfn "$ROOT" "$WORK/$1"
	else
		rm -rf "$WORK/$1" && mkdir -p "$WORK/$1"
		git -C "$ROOT" archive "$2" | tar -x -C "$WORK/$1"
		# A revision from before the link benchmarks gets this tree's
		# (they use only node's exported API).
		if [ ! -e "$WORK/$1/node/bench_link_test.go" ]; then
			echo "$2 has no node/bench_link_test.go: using the work tree's" >&2
			cp "$ROOT/node/bench_link_test.go" "$WORK/$1/node/"
		fi
	fi
	local p
	for p in "${PKGS[@]}"; do
		(cd "$WORK/$1" && go test -c -o "$WORK/$1-$p.test" "./$p/")
	done
}
tree old "$1"
tree new "${2:-}"
: >"$WORK/old.txt"
: >"$WORK/new.txt"
for i in $(seq 1 "$COUNT"); do
	echo "round $i/$COUNT" >&2
	for side in old new; do
		for p in "${PKGS[@]}"; do
			(cd "$WORK/$side/$p" && "$WORK/$side-$p.test" -test.run '^$' -test.bench "$PATTERN" \
				-test.benchtime "$TIME") >>"$WORK/$side.txt"
		done
	done
done
rm -rf "$WORK/old" "$WORK/new" "$WORK"/*.test # $WORK/new may be a link to the work tree: rm removes the link
echo "old: $1, new: ${2:-the work tree}; results in $WORK" >&2
cd "$ROOT" && go run golang.org/x/perf/cmd/benchstat@latest "$WORK/old.txt" "$WORK/new.txt"
