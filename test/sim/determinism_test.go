package sim_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/test/sim"
)

// workload runs several clients against two echo servers, with random write
// sizes and pauses from several goroutines on different connections, random
// latencies, a small window, partitions and a reset on a schedule, and a
// redial after the reset.
func workload(t *testing.T, n *sim.Network) {
	servers := []string{"s1", "s2"}
	clients := []string{"c1", "c2", "c3"}
	n.SetLatency("c1", "s1", sim.Latency{Min: 5 * ms, Max: 80 * ms})
	for _, s := range servers {
		l := listen(t, n, s, ":80")
		go serveEcho(l)
	}

	// Stop the writers before the network closes: time stops when the test
	// function returns, so nothing may still sleep then.
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	pause := func(r *clock.Rand, maxMillis int) bool {
		return clock.Sleep(ctx, n.Clock(), time.Duration(r.IntN(maxMillis))*ms) == nil
	}
	for _, c := range clients {
		for _, s := range servers {
			conn := dial(t, n, c, s+":80")
			r := n.Rand("client/" + c + "/" + s)
			go drain(conn)
			go func() {
				redialed := false
				for k := 0; k < 40; k++ {
					if _, err := conn.Write(make([]byte, r.IntN(3000)+1)); err != nil {
						conn.Close()
						if redialed {
							return
						}
						redialed = true
						if !pause(r, 20) {
							return
						}
						dctx, cancel := context.WithTimeout(ctx, time.Second)
						conn, err = n.Host(c).Dial(dctx, s+":80")
						cancel()
						if err != nil {
							return
						}
						go drain(conn)
					}
					if !pause(r, 10) {
						break
					}
				}
				conn.Close()
			}()
		}
	}
	// The fault schedule, from now on.
	n.After(50*ms, func() { n.Partition("c2", "s1") })
	n.After(60*ms, func() { n.PartitionOneWay("s2", "c1") })
	n.After(90*ms, func() { n.Reset("c3", "s2") })
	n.After(120*ms, func() { n.Heal("c2", "s1") })
	n.After(150*ms, func() { n.HealAll() })
	n.Clock().Sleep(400 * ms)
}

// drain reads c until it fails.
func drain(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// traceOf runs the workload with seed and returns the hash of its event
// trace and the trace itself.
func traceOf(t *testing.T, seed uint64) (string, []string) {
	var trace []string
	cfg := sim.Config{
		Seed:    seed,
		Latency: sim.Latency{Min: ms, Max: 30 * ms},
		Window:  8 << 10,
		OnEvent: func(e sim.Event) { trace = append(trace, e.String()) },
	}
	sim.Test(t, cfg, workload)
	h := sha256.Sum256([]byte(strings.Join(trace, "\n")))
	return hex.EncodeToString(h[:8]), trace
}

func TestDeterminism(t *testing.T) {
	const runs = 20
	want, trace := traceOf(t, 1)
	t.Logf("seed 1: %d events, hash %s", len(trace), want)
	all := strings.Join(trace, "\n")
	for _, kind := range []string{" syn ", " synack ", " data ", " drop-data ", " partition ", " heal ", " reset ", " fin "} {
		if !strings.Contains(all, kind) {
			t.Errorf("the workload produced no %q event", strings.TrimSpace(kind))
		}
	}
	if t.Failed() {
		t.Logf("trace:\n%s", all)
	}

	for _, procs := range []int{0, 1, 8} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			if procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			}
			for i := range runs {
				got, tr := traceOf(t, 1)
				if got != want {
					t.Fatalf("run %d: hash %s, want %s; first difference:\n%s", i, got, want, firstDiff(trace, tr))
				}
			}
		})
	}

	if other, _ := traceOf(t, 2); other == want {
		t.Fatalf("seeds 1 and 2 give the same trace %s", want)
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("event %d: %q vs %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
}
