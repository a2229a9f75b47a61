#!/usr/bin/env bash
# ours.sh — tether's benchmarks, run by the peer harness as BENCH_EXTRA_CMD
# (see run.sh here): same rules as the peers, separate OS processes on
# 127.0.0.1, warm-up then a measured window. Prints "peer=" lines on stdout.
#
# Environment from the harness: BENCH_DUR_S, BENCH_WARM_MS,
# BENCH_EXTRA_PORT_BASE. Scratch: BENCH_WORK (default /tmp/peerbench).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/peerbench}"
DUR="${BENCH_DUR_S:-3}s"
WARM="${BENCH_WARM_MS:-500}ms"
PORT=$(( ${BENCH_EXTRA_PORT_BASE:-17700} + 1 ))
BIN="$WORK/bin/tether-rpcbench"
mkdir -p "$WORK/bin" "$WORK/logs"

if ! (cd "$HERE" && go build -o "$BIN" ./rpcbench) >&2; then
	for w in unary_c1 unary_c64 stream oneway; do
		echo "peer=tether suite=rpc workload=$w error=\"build failed (see extra.log)\""
	done
	exit 1
fi

"$BIN" -mode server -addr "127.0.0.1:$PORT" >"$WORK/logs/tether-rpc-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT

for codec in custom reflect; do
	"$BIN" -mode client -addr "127.0.0.1:$PORT" -dur "$DUR" -warm "$WARM" -codec "$codec"
done
