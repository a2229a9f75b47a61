package node_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// What a monitor reports for a port that dies of a message sent just before
// the monitor request does not depend on executor timing. Node a sends
// ("die") to port P on b — P's callback fails, so P dies with "die told to
// die" — and then monitors P; both frames go in one segment, in that order.
// b's reader routes "die" to P's executor and then handles mon1 itself:
// whether P's executor has run the kill by then or not, the monitor must
// report the reason P died of. Twenty messages to a slow port Q, sent
// between the two frames, hold b's reader back (Q's executor queue is full:
// Limits.LocalQueue 4), so that P's executor certainly wins; without them
// the reader usually does. (Before the graveyard of recent deaths, the first
// case gave the death reason and the second no_such_port: in the
// determinism scenario that showed as two traces in about a hundred runs
// under -race.)
func TestSimMonitorReasonIndependentOfTiming(t *testing.T) {
	reasons := make(map[int]string)
	for _, fillers := range []int{0, 20} {
		cfg := sim.Config{Seed: 1, Latency: sim.Latency{Min: time.Millisecond, Max: 10 * time.Millisecond}}
		sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
			c := newSimCluster(t, n, simOpts{coalesce: true, shards: 2, limits: node.Limits{LocalQueue: 4}}, "a", "b")
			defer c.close()
			a, b := c.node("a"), c.node("b")
			c.link("a", "b")
			p := b.Port(nil)
			b.Rcv(p, "die", func(*node.Context, []any) error { return errors.New("told to die") })
			q := b.Port(func(*node.Context, []any) error {
				n.Clock().Sleep(time.Millisecond) // a slow port
				return nil
			})
			simSettle(n, 100*time.Millisecond)
			var mu sync.Mutex
			a.Send(p, "die")
			for i := range fillers {
				a.Send(q, i)
			}
			a.Monitor(p, node.Func(func(r []any) {
				mu.Lock()
				reasons[fillers] = simReason(r)
				mu.Unlock()
			}))
			simSettle(n, time.Second)
		})
	}
	for _, fillers := range []int{0, 20} {
		if reasons[fillers] != "die told to die" {
			t.Errorf("with %d messages to another port in between, the monitor reported %q, want %q", fillers, reasons[fillers], "die told to die")
		}
	}
}
