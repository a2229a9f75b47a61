#!/usr/bin/env bash
# run.sh — tether's benchmarks and its peers' (grpc-go, net/rpc, NATS,
# distributed Erlang, the raw TCP floor) in one run, with the same message
# shapes (README.md here), then the table and the ratios against the targets.
#
#   ./run.sh                        # everything, one round (~2 min once built)
#   BENCH_ROUNDS=3 ./run.sh         # three interleaved rounds; figures are medians
#   BENCH_ONLY="floor grpc" ./run.sh  # a subset: floor grpc netrpc nats erlang tether placed
#
# Everything it runs is in this directory: peers/ (a Go module of its own, so
# that grpc-go and nats.go stay out of tether's dependencies) and tether's
# rpcbench and nodebench. It installs what is missing (apt: erlang-base,
# nats-server; sudo when not root) unless BENCH_NO_INSTALL=1.
#
# Environment (all optional):
#   BENCH_DUR_S      measured seconds per workload        (default 3)
#   BENCH_WARM_MS    warm-up milliseconds per workload    (default 500)
#   BENCH_ROUNDS     rounds; the summary shows medians     (default 1)
#   BENCH_ONLY       sections to run                       (default all)
#   BENCH_PORT_BASE  first loopback port                   (default 17000; uses +1 … +710)
#   BENCH_WORK       binaries, logs, results               (default $TMPDIR/tetherbench)
#   BENCH_NO_INSTALL=1  skip the apt step
#
# Output: one "peer=… suite=… workload=… ops_per_s=… [p50_us= p99_us=] n= dur_s= …"
# line per figure (also in $BENCH_WORK/results-<UTC>.txt), a '#' table of the
# medians, then the ratios (go run ./ratios RESULTS-FILE reprints them).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/tetherbench}"
DUR_S="${BENCH_DUR_S:-3}"
WARM_MS="${BENCH_WARM_MS:-500}"
ONLY="${BENCH_ONLY:-floor grpc netrpc nats erlang tether placed}"
ROUNDS="${BENCH_ROUNDS:-1}"
BASE="${BENCH_PORT_BASE:-17000}"
BIN="$WORK/bin"
LOGS="$WORK/logs"
RESULTS="$WORK/results-$(date -u +%Y%m%dT%H%M%SZ).txt"

P_GRPC=$((BASE + 1))
P_NETRPC=$((BASE + 2))
P_TCP=$((BASE + 3))
P_NATS=$((BASE + 222))
P_EPMD=$((BASE + 369))     # a private epmd for the Erlang nodes
P_ERL_DIST=$((BASE + 400)) # Erlang distribution: +0 … +10
P_RPC=$((BASE + 701))      # tether's rpcbench server
P_RPC_HOOKS=$((BASE + 703)) # the same, with hooks
P_NODE=$((BASE + 702))     # tether's nodebench node B
P_PLACED=$((BASE + 704))   # the placed section: floor +0, rpc +1, node +2

DUR="${DUR_S}s"
WARM="${WARM_MS}ms"
DUR_MS=$(awk -v s="$DUR_S" 'BEGIN{printf "%d", s*1000}')
# A client's wall-clock cap: at most 8 workloads of dur + warm-up + 10 s.
CLIENT_TIMEOUT=$(awk -v s="$DUR_S" -v w="$WARM_MS" 'BEGIN{printf "%d", 8*(s + w/1000 + 10) + 30}')

mkdir -p "$BIN/erl" "$LOGS"
: >"$RESULTS"

log() { echo "[run.sh] $*" >&2; }

# ---------------------------------------------------------------- processes
# Every background process is started here directly (so $! is its own PID),
# remembered, and stopped by that PID only — never by name.
PIDS=()
LAST_PID=""
start_bg() { # start_bg LOGFILE CMD...
	local logf="$1"
	shift
	"$@" >"$logf" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}
# Bash reaps finished children by itself, so a remembered PID may be free (or
# reused) later: signal a PID only while it is still a child of this shell.
ours() { [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]; }
running() { ours "$1" && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }
stop_pid() {
	local p="$1" i q keep=()
	[ -n "$p" ] || return 0
	if running "$p"; then
		kill "$p" 2>/dev/null
		for i in $(seq 1 30); do
			running "$p" || break
			sleep 0.1
		done
		running "$p" && kill -9 "$p" 2>/dev/null
	fi
	wait "$p" 2>/dev/null
	for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	PIDS=("${keep[@]}")
	return 0
}
cleanup() {
	local p
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # wait_port PORT PID
	local i
	for i in $(seq 1 150); do
		port_open "$1" && return 0
		running "$2" || return 1
		sleep 0.1
	done
	return 1
}
busy_ports() { # prints those of the given ports that already accept connections
	local p out=""
	for p in "$@"; do port_open "$p" && out="$out $p"; done
	echo "$out"
}
ROUND=1
PLACED="" # set by sec_placed: the placement, appended to each workload's name
emit() { # result lines, marked with the round: stdout and the results file
	awk -v r="$ROUND" -v pl="$PLACED" '{ if (pl != "") sub(/ workload=[^ ]+/, "&@" pl); print $0 " round=" r; fflush() }' |
		tee -a "$RESULTS"
}
fail_line() { # fail_line PEER SUITE WORKLOAD MESSAGE
	echo "peer=$1 suite=$2 workload=$3 error=\"$4\"" | emit
}
run_client() { # run_client NAME CMD...   (its stdout: result lines)
	local name="$1"
	shift
	timeout -k 5 "$CLIENT_TIMEOUT" "$@" 2>"$LOGS/$name.client.log" | grep --line-buffered '^peer=' | emit
	local rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || log "$name client exited with $rc (see $LOGS/$name.client.log)"
	return 0
}
want() { [[ " $ONLY " == *" $1 "* ]]; }

# ---------------------------------------------------------------- install
install_deps() {
	[ "${BENCH_NO_INSTALL:-0}" = 1 ] && return 0
	local need=()
	if want erlang; then
		{ command -v erl && command -v erlc && command -v epmd; } >/dev/null 2>&1 || need+=(erlang-base)
	fi
	if want nats; then
		{ command -v nats-server || [ -x /usr/sbin/nats-server ]; } >/dev/null 2>&1 || need+=(nats-server)
	fi
	[ ${#need[@]} = 0 ] && return 0
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	log "installing ${need[*]} (apt)"
	$sudo apt-get update -qq >"$LOGS/apt.log" 2>&1
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		-o DPkg::Lock::Timeout=300 "${need[@]}" >>"$LOGS/apt.log" 2>&1 ||
		log "apt-get install ${need[*]} failed (see $LOGS/apt.log)"
}

# ---------------------------------------------------------------- build
BUILT=" "
build() { # build NAME DIR PACKAGE
	if (cd "$2" && go build -trimpath -o "$BIN/$1" "$3") >"$LOGS/build-$1.log" 2>&1; then
		BUILT="$BUILT$1 "
	else
		log "build of $1 failed (see $LOGS/build-$1.log)"
	fi
}
build_all() {
	local p
	for p in tcpfloor grpc netrpc nats; do
		{ want "${p/tcpfloor/floor}" || { [ $p = tcpfloor ] && want placed; }; } && build "$p" "$HERE/peers" "./$p"
	done
	if want tether || want placed; then
		build rpcbench "$HERE" ./rpcbench
		build nodebench "$HERE" ./nodebench
	fi
	if want erlang; then
		if command -v erlc >/dev/null 2>&1 &&
			erlc -o "$BIN/erl" "$HERE/peers/erlang/peerbench.erl" >"$LOGS/build-erlang.log" 2>&1; then
			BUILT="${BUILT}erlang "
		else
			log "build of peers/erlang/peerbench.erl failed (see $LOGS/build-erlang.log)"
		fi
	fi
}
built() { [[ "$BUILT" == *" $1 "* ]]; }

# ---------------------------------------------------------------- sections
# serve NAME PEER SUITE PORT CMD...: start a server, wait for its port.
serve() {
	local name="$1" peer="$2" suite="$3" port="$4"
	shift 4
	local busy
	busy=$(busy_ports "$port")
	[ -z "$busy" ] || { fail_line "$peer" "$suite" all "port busy:$busy"; return 1; }
	start_bg "$LOGS/$name.server.log" "$@"
	wait_port "$port" "$LAST_PID" || { fail_line "$peer" "$suite" all "$name did not start"; stop_pid "$LAST_PID"; return 1; }
}

sec_floor() {
	built tcpfloor || { fail_line tcp floor all "build failed"; return; }
	serve tcpfloor tcp floor "$P_TCP" "$BIN/tcpfloor" -mode server -addr "127.0.0.1:$P_TCP" || return
	local srv=$LAST_PID
	run_client tcpfloor "$BIN/tcpfloor" -mode client -addr "127.0.0.1:$P_TCP" -dur "$DUR" -warm "$WARM"
	stop_pid "$srv"
}

sec_gorpc() { # sec_gorpc NAME PORT   (grpc and netrpc share the shape)
	local name="$1" port="$2"
	built "$name" || { fail_line "$name" rpc all "build failed"; return; }
	serve "$name" "$name" rpc "$port" "$BIN/$name" -mode server -addr "127.0.0.1:$port" || return
	local srv=$LAST_PID
	run_client "$name" "$BIN/$name" -mode client -addr "127.0.0.1:$port" -dur "$DUR" -warm "$WARM" \
		-workloads unary_c1,unary_cN,stream -conc 64 -window 1024
	stop_pid "$srv"
}

sec_nats() {
	built nats || { fail_line nats rpc all "build failed"; return; }
	local ns
	ns=$(command -v nats-server || echo /usr/sbin/nats-server)
	[ -x "$ns" ] || { fail_line nats rpc all "nats-server not installed"; return; }
	serve nats-server nats rpc "$P_NATS" "$ns" -a 127.0.0.1 -p "$P_NATS" || return
	local srv=$LAST_PID
	start_bg "$LOGS/nats.B.log" "$BIN/nats" -mode server -url "nats://127.0.0.1:$P_NATS"
	local b=$LAST_PID i
	for i in $(seq 1 100); do
		grep -q "nats B ready" "$LOGS/nats.B.log" && break
		sleep 0.1
	done
	run_client nats-rpc "$BIN/nats" -mode client -url "nats://127.0.0.1:$P_NATS" -dur "$DUR" -warm "$WARM" \
		-workloads unary_c1,unary_cN,stream -conc 64 -window 1024
	run_client nats-msg "$BIN/nats" -mode client -url "nats://127.0.0.1:$P_NATS" -dur "$DUR" -warm "$WARM" \
		-workloads oneway,pingpong
	stop_pid "$b"
	stop_pid "$srv"
}

sec_erlang() {
	built erlang || { fail_line erlang msg all "build failed"; return; }
	local busy
	busy=$(busy_ports "$P_EPMD" $(seq "$P_ERL_DIST" $((P_ERL_DIST + 10))))
	[ -z "$busy" ] || { fail_line erlang msg all "port busy:$busy"; return; }
	start_bg "$LOGS/epmd.log" epmd -port "$P_EPMD" -address 127.0.0.1
	local epmd_pid=$LAST_PID
	wait_port "$P_EPMD" "$epmd_pid" || { fail_line erlang msg all "epmd did not start"; stop_pid "$epmd_pid"; return; }
	local common=(-noshell -noinput -start_epmd false -setcookie peerbench -pa "$BIN/erl"
		-kernel inet_dist_use_interface "{127,0,0,1}"
		-kernel inet_dist_listen_min "$P_ERL_DIST" -kernel inet_dist_listen_max "$((P_ERL_DIST + 10))")
	export ERL_EPMD_PORT="$P_EPMD"
	start_bg "$LOGS/erlang.B.log" erl -name b@127.0.0.1 "${common[@]}" -s peerbench start_b
	local b=$LAST_PID
	run_client erlang erl -name a@127.0.0.1 "${common[@]}" -run peerbench run_a b@127.0.0.1 "$DUR_MS" "$WARM_MS"
	unset ERL_EPMD_PORT
	stop_pid "$b"
	stop_pid "$epmd_pid"
}

sec_tether() {
	if built rpcbench; then
		# The plain server and one with a stats handler and an interceptor
		# at both ends (peer=tether-hooks) run side by side; each workload
		# runs on both back to back, in an order that alternates with the
		# round, so that the machine's moods fall on both alike.
		local srv="" hsrv="" w side order="plain hooks"
		[ $((ROUND % 2)) = 0 ] && order="hooks plain"
		serve tether-rpc tether rpc "$P_RPC" "$BIN/rpcbench" -mode server -addr "127.0.0.1:$P_RPC" && srv=$LAST_PID
		serve tether-rpc-hooks tether rpc "$P_RPC_HOOKS" "$BIN/rpcbench" -mode server -hooks -addr "127.0.0.1:$P_RPC_HOOKS" && hsrv=$LAST_PID
		for w in unary_c1 unary_cN stream oneway; do
			for side in $order; do
				if [ "$side" = plain ] && [ -n "$srv" ]; then
					run_client "tether-rpc-$w" "$BIN/rpcbench" -mode client -addr "127.0.0.1:$P_RPC" \
						-dur "$DUR" -warm "$WARM" -workloads "$w"
				elif [ "$side" = hooks ] && [ -n "$hsrv" ] && [ "$w" != oneway ]; then
					run_client "tether-rpc-hooks-$w" "$BIN/rpcbench" -mode client -hooks -addr "127.0.0.1:$P_RPC_HOOKS" \
						-dur "$DUR" -warm "$WARM" -workloads "$w"
				fi
			done
		done
		[ -n "$hsrv" ] && stop_pid "$hsrv"
		if [ -n "$srv" ]; then
			run_client tether-rpc-reflect "$BIN/rpcbench" -mode client -addr "127.0.0.1:$P_RPC" \
				-dur "$DUR" -warm "$WARM" -codec reflect
			stop_pid "$srv"
		fi
	else
		fail_line tether rpc all "build failed"
	fi
	if built nodebench; then
		if serve tether-node-b tether msg "$P_NODE" "$BIN/nodebench" -role b -listen "127.0.0.1:$P_NODE"; then
			local b=$LAST_PID
			run_client tether-node "$BIN/nodebench" -role a -connect "127.0.0.1:$P_NODE" -dur "$DUR" -warm "$WARM"
			stop_pid "$b"
		fi
	else
		fail_line tether msg all "build failed"
	fi
}

# Loopback ping-pong on a small VM is decided first by where the kernel runs
# the two processes. On one CPU a round trip costs the work of both sides;
# on two it also costs two cross-CPU wake-ups of an idle CPU, which on a VM
# are tens of µs each. Left to itself the kernel settles a run in one mode
# or the other, or between them, and the same program reads 20 µs in one
# run and 80 µs in the next. This section therefore runs the latency
# workloads of the floor and of tether (rpc c1 with and without hooks,
# node ping-pong) with both processes pinned
# (taskset): "1cpu", both on CPU 0; "2cpu", server on CPU 0 and client on
# CPU 1. Go takes GOMAXPROCS from the affinity mask, so each process has 1.
sec_placed() {
	command -v taskset >/dev/null 2>&1 || { fail_line tcp floor pingpong@1cpu "taskset not found (util-linux)"; return; }
	local pl sc cc srv
	for pl in 1cpu 2cpu; do
		sc=0 cc=0
		if [ "$pl" = 2cpu ]; then
			[ "$(nproc)" -ge 2 ] || continue
			cc=1
		fi
		PLACED=$pl
		if built tcpfloor && serve "tcpfloor-$pl" tcp floor "$P_PLACED" taskset -c "$sc" "$BIN/tcpfloor" -mode server -addr "127.0.0.1:$P_PLACED"; then
			srv=$LAST_PID
			run_client "tcpfloor-$pl" taskset -c "$cc" "$BIN/tcpfloor" -mode client -addr "127.0.0.1:$P_PLACED" \
				-dur "$DUR" -warm "$WARM" -workloads pingpong
			stop_pid "$srv"
		fi
		for hooks in "" -hooks; do # rpc, then rpc with hooks (see sec_tether)
			if built rpcbench && serve "tether-rpc$hooks-$pl" tether rpc "$((P_PLACED + 1))" taskset -c "$sc" "$BIN/rpcbench" -mode server $hooks -addr "127.0.0.1:$((P_PLACED + 1))"; then
				srv=$LAST_PID
				run_client "tether-rpc$hooks-$pl" taskset -c "$cc" "$BIN/rpcbench" -mode client $hooks -addr "127.0.0.1:$((P_PLACED + 1))" \
					-dur "$DUR" -warm "$WARM" -workloads unary_c1
				stop_pid "$srv"
			fi
		done
		if built nodebench && serve "tether-node-$pl" tether msg "$((P_PLACED + 2))" taskset -c "$sc" "$BIN/nodebench" -role b -listen "127.0.0.1:$((P_PLACED + 2))"; then
			srv=$LAST_PID
			run_client "tether-node-$pl" taskset -c "$cc" "$BIN/nodebench" -role a -connect "127.0.0.1:$((P_PLACED + 2))" \
				-dur "$DUR" -warm "$WARM" -workloads pingpong
			stop_pid "$srv"
		fi
		PLACED=""
	done
}

summary() {
	echo "# ---- summary ($(date -u +%FT%TZ), $(nproc) cores, dur=${DUR} warm=${WARM}, rounds=${ROUNDS}; median over rounds; lines in $RESULTS)"
	printf "# %-6s %-14s %-14s %12s %9s %9s %s\n" suite peer workload ops_per_s p50_us p99_us rounds
	awk '
	function med(list,   n, v, i, j, t) {
		n = split(list, v, " ")
		if (n == 0) return "-"
		for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
		return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	/^peer=/ {
		delete kv
		for (i = 1; i <= NF; i++) { split($i, a, "="); kv[a[1]] = substr($i, length(a[1]) + 2) }
		k = kv["suite"] " " kv["peer"] " " kv["workload"]
		if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
		if ("ops_per_s" in kv) { ops[k] = ops[k] " " kv["ops_per_s"]; rounds[k]++ } else errs[k] = errs[k] + 1
		if ("p50_us" in kv) { p50[k] = p50[k] " " kv["p50_us"]; p99[k] = p99[k] " " kv["p99_us"] }
	}
	END {
		for (i = 1; i <= nk; i++) {
			k = order[i]; split(k, f, " ")
			o = (k in ops) ? sprintf("%.0f", med(ops[k])) : "ERROR"
			m50 = (k in p50) ? sprintf("%.1f", med(p50[k])) : "-"
			m99 = (k in p99) ? sprintf("%.1f", med(p99[k])) : "-"
			printf "# %-6s %-14s %-14s %12s %9s %9s %d%s\n", f[1], f[2], f[3], o, m50, m99, rounds[k] + 0, (k in errs) ? " errors=" errs[k] : ""
		}
	}' "$RESULTS" | sort -s -k2,2
}

# ---------------------------------------------------------------- main
T0=$(date +%s)
command -v go >/dev/null 2>&1 || { log "needs Go (go.mod files say which version)"; exit 1; }
log "work dir $WORK; measured ${DUR} + warm-up ${WARM} per workload; sections: $ONLY"
install_deps
log "building"
build_all
log "built:$BUILT"
for ROUND in $(seq 1 "$ROUNDS"); do
	[ "$ROUNDS" -gt 1 ] && log "round $ROUND/$ROUNDS"
	want floor && sec_floor
	want grpc && sec_gorpc grpc "$P_GRPC"
	want netrpc && sec_gorpc netrpc "$P_NETRPC"
	want nats && sec_nats
	want erlang && sec_erlang
	want tether && sec_tether
	want placed && sec_placed
done
cleanup
summary
echo
(cd "$HERE" && go run ./ratios "$RESULTS")
log "done in $(($(date +%s) - T0)) s"
