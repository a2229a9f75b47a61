package node_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// Heartbeats: a partition is silent — no FIN, no RST, the connection just
// stops delivering — and an idle link sends nothing else, so only the
// heartbeats can notice. Both ends must fail the link within the heartbeat
// timeout (plus at most one interval: the check runs on each tick), with a
// transport_error whose text names the heartbeat, and every monitor on the
// other node and its ports must fire with it, on both sides; node-down
// events too. With the defaults (10 s, 30 s) and with short settings; a
// one-way partition is noticed by the end that hears nothing, and the other
// end learns of it when that end closes the connection.
func TestSimHeartbeatDetectsSilentPartition(t *testing.T) {
	for _, tc := range []struct {
		name               string
		interval, timeout  time.Duration // zero: the defaults
		wantInterval, want time.Duration
	}{
		{"defaults", 0, 0, 10 * time.Second, 30 * time.Second},
		{"1s/3s", time.Second, 3 * time.Second, time.Second, 3 * time.Second},
		{"200ms/1s", 200 * time.Millisecond, time.Second, 200 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sim.Config{Seed: 3, Latency: sim.Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
				simHeartbeat(t, n, tc.interval, tc.timeout, tc.wantInterval, tc.want)
			})
		})
	}
}

type hbFiring struct {
	what   string
	at     time.Duration // since the partition
	reason []any
}

func simHeartbeat(t *testing.T, n *sim.Network, interval, timeout, wantInterval, want time.Duration) {
	c := newSimCluster(t, n, simOpts{heartbeat: interval, hbTimeout: timeout}, "a", "b")
	defer c.close()
	a, b := c.node("a"), c.node("b")
	clk := n.Clock()
	var mu sync.Mutex
	var cut time.Time
	var firings []hbFiring
	record := func(what string) func([]any) {
		return func(reason []any) {
			mu.Lock()
			firings = append(firings, hbFiring{what, clk.Since(cut), reason})
			mu.Unlock()
		}
	}
	pa, pb := a.Port(func(*node.Context, []any) error { return nil }), b.Port(func(*node.Context, []any) error { return nil })
	c.link("a", "b")
	a.Monitor(pb, node.Func(record("a: port on b")))
	a.Monitor("b", node.Func(record("a: node b")))
	b.Monitor(pa, node.Func(record("b: port on a")))
	b.Monitor("a", node.Func(record("b: node a")))
	a.MonitorNodes(func(peer string, up bool, reason []any) {
		if !up {
			record("a: node-down " + peer)(reason)
		}
	})
	b.MonitorNodes(func(peer string, up bool, reason []any) {
		if !up {
			record("b: node-down " + peer)(reason)
		}
	})
	// Idle for a while: heartbeats keep the link up. The partition then
	// comes between two ticks.
	n.Clock().Sleep(3*want + wantInterval*37/100)
	n.Wait()
	mu.Lock()
	if len(firings) != 0 {
		t.Fatalf("an idle link failed: %v", firings)
	}
	cut = clk.Now()
	mu.Unlock()
	n.Partition("a", "b")
	simSettle(n, want+2*wantInterval)

	mu.Lock()
	defer mu.Unlock()
	seen := make(map[string]bool)
	for _, f := range firings {
		seen[f.what] = true
		text := simReason(f.reason)
		peer := "b"
		if strings.HasPrefix(f.what, "b:") {
			peer = "a"
		}
		if !strings.HasPrefix(text, "transport_error "+peer+" heartbeat timeout") {
			t.Errorf("%s fired with %q, want transport_error %s heartbeat timeout …", f.what, text, peer)
		}
		if f.at > want+wantInterval || f.at < want-wantInterval {
			t.Errorf("%s fired %v after the partition, want within %v ± %v", f.what, f.at, want, wantInterval)
		}
	}
	for _, what := range []string{"a: port on b", "a: node b", "b: port on a", "b: node a", "a: node-down b", "b: node-down a"} {
		if !seen[what] {
			t.Errorf("%s: did not fire; firings: %v", what, firings)
		}
	}
	for _, f := range firings {
		t.Logf("%v after the partition: %s: %s", f.at, f.what, simReason(f.reason))
	}
	if len(firings) != 6 {
		t.Errorf("%d firings, want 6: %v", len(firings), firings)
	}
	if ids := append(a.Nodes(), b.Nodes()...); len(ids) != 0 {
		t.Errorf("still linked: %v", ids)
	}
}

// A one-way partition: a's segments to b vanish, b's reach a. b hears
// nothing and fails the link after the timeout — its heartbeat timeout —
// and closes the connection; its FIN reaches a, whose link then fails too
// ("EOF"), and a's monitors fire.
func TestSimHeartbeatOneWayPartition(t *testing.T) {
	for _, dir := range [][2]string{{"a", "b"}, {"b", "a"}} {
		t.Run(fmt.Sprintf("%s>%s", dir[0], dir[1]), func(t *testing.T) {
			cfg := sim.Config{Seed: 5, Latency: sim.Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
				c := newSimCluster(t, n, simOpts{heartbeat: 500 * time.Millisecond, hbTimeout: 2 * time.Second}, "a", "b")
				defer c.close()
				clk := n.Clock()
				c.link("a", "b")
				var mu sync.Mutex
				fired := make(map[string]string)
				var cut time.Time
				for _, pair := range [][2]string{{"a", "b"}, {"b", "a"}} {
					x, y := c.node(pair[0]), c.node(pair[1])
					p := y.Port(func(*node.Context, []any) error { return nil })
					x.Monitor(p, node.Func(func(reason []any) {
						mu.Lock()
						fired[x.ID()] = fmt.Sprintf("%s after %v", simReason(reason), clk.Since(cut))
						mu.Unlock()
					}))
				}
				simSettle(n, time.Second)
				cut = clk.Now()
				n.PartitionOneWay(dir[0], dir[1])
				simSettle(n, 4*time.Second)
				mu.Lock()
				defer mu.Unlock()
				deaf, other := dir[1], dir[0] // the end that hears nothing, the other
				if got := fired[deaf]; !strings.HasPrefix(got, "transport_error "+other+" heartbeat timeout") {
					t.Errorf("%s's monitor: %q, want transport_error %s heartbeat timeout …", deaf, got, other)
				}
				if got := fired[other]; !strings.HasPrefix(got, "transport_error "+deaf+" ") {
					t.Errorf("%s's monitor: %q, want a transport_error", other, got)
				}
			})
		})
	}
}
