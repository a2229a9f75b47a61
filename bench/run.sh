#!/usr/bin/env bash
# run.sh — tether's benchmarks and the peers' (grpc-go, net/rpc, NATS, the raw
# TCP floor, …) in one run, then the ratio table against the targets.
#
#   ./run.sh                          # everything, one round
#   BENCH_ROUNDS=3 ./run.sh           # three interleaved rounds; figures are medians
#   BENCH_ONLY="floor grpc" ./run.sh  # a subset of the peers (tether always runs)
#
# The peer harness is ../../shared/bench/peers (PEERS overrides it); every
# BENCH_* setting it knows applies. Results: $BENCH_WORK/results-*.txt.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS="${PEERS:-$HERE/../../shared/bench/peers}"
export BENCH_WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/peerbench}"
export BENCH_EXTRA_CMD="$HERE/ours.sh"

"$PEERS/run.sh"
results=$(ls -t "$BENCH_WORK"/results-*.txt | head -n 1)
echo
(cd "$HERE" && go run ./ratios "$results")
