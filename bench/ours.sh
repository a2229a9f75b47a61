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
NODE_PORT=$(( ${BENCH_EXTRA_PORT_BASE:-17700} + 2 ))
HOOKS_PORT=$(( ${BENCH_EXTRA_PORT_BASE:-17700} + 3 ))
mkdir -p "$WORK/bin" "$WORK/logs"
pids=()
# set +e: wait reports the signal that killed a server, which must not end
# the loop before the next one is killed.
trap 'set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done' EXIT

# rpc: the rpc/ package's client and server (custom and reflect codecs).
RPC="$WORK/bin/tether-rpcbench"
if (cd "$HERE" && go build -o "$RPC" ./rpcbench) >&2; then
	"$RPC" -mode server -addr "127.0.0.1:$PORT" >"$WORK/logs/tether-rpc-server.log" 2>&1 &
	pids+=($!)
	# The same with a stats handler and an interceptor at both ends
	# (peer=tether-hooks), next to the plain one in the same run.
	"$RPC" -mode server -hooks -addr "127.0.0.1:$HOOKS_PORT" >"$WORK/logs/tether-rpc-hooks-server.log" 2>&1 &
	pids+=($!)
	"$RPC" -mode client -addr "127.0.0.1:$PORT" -dur "$DUR" -warm "$WARM" -codec custom
	"$RPC" -mode client -hooks -addr "127.0.0.1:$HOOKS_PORT" -dur "$DUR" -warm "$WARM" -workloads unary_c1,unary_cN,stream
	"$RPC" -mode client -addr "127.0.0.1:$PORT" -dur "$DUR" -warm "$WARM" -codec reflect
else
	for w in unary_c1 unary_c64 stream oneway; do
		echo "peer=tether suite=rpc workload=$w error=\"build failed (see extra.log)\""
	done
fi

# msg: node A sends to ports on node B (the node/ package).
NODE="$WORK/bin/tether-nodebench"
if (cd "$HERE" && go build -o "$NODE" ./nodebench) >&2; then
	"$NODE" -role b -listen "127.0.0.1:$NODE_PORT" >"$WORK/logs/tether-node-b.log" 2>&1 &
	pids+=($!)
	"$NODE" -role a -connect "127.0.0.1:$NODE_PORT" -dur "$DUR" -warm "$WARM"
else
	for w in oneway pingpong; do
		echo "peer=tether suite=msg workload=$w error=\"build failed (see extra.log)\""
	done
fi
