package node_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/tetherkit/tether/test/sim"
)

// Bug (R1 of issue 13): after a link fails, its persistent connection
// sometimes dials once more. The connection that died wakes two
// goroutines at once: the link's, which fails the link and closes the
// persistent connection, and the persistent connection's own, which
// starts its next attempt at once when the retry delay has already passed
// — and link.dial let it through once fail had cleared the link. Nothing
// wants the link then (a link that failed waits until something is sent
// or monitored), so that dial is spurious; in a simulation it makes two
// runs of one seed differ.
//
// Here a's link to b dies when b crashes, after it lived longer than the
// retry delay; nothing on a wants b afterwards, so a must not dial b
// again. Before the fix about one run in five dialled.
func TestSimNoRedialAfterLinkFails(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	redials := 0
	const runs = 300
	for seed := uint64(1); seed <= runs; seed++ {
		crashed := false
		dials := 0
		cfg := sim.Config{
			Seed:    seed,
			Latency: sim.Latency{Min: time.Millisecond, Max: 10 * time.Millisecond},
			OnEvent: func(e sim.Event) {
				switch {
				case e.Kind == "crash":
					crashed = true
				case crashed && e.Conn.Host == "a" && (e.Kind == "syn" || e.Kind == "refuse"):
					dials++
				}
			},
		}
		sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
			c := newSimCluster(t, n, simOpts{heartbeat: 100 * time.Millisecond, hbTimeout: 300 * time.Millisecond}, "a", "b")
			defer c.close()
			a, b := c.node("a"), c.node("b")
			c.link("a", "b")
			// Now a knows b's address; a reset, and a message to b, so
			// that the link's persistent connection makes the next one.
			n.Reset("a", "b")
			simSettle(n, time.Second)
			a.Send(b.Port(nil), "hello")
			simSettle(n, time.Second) // past the link's retry delay
			if ids := a.Nodes(); len(ids) != 1 {
				t.Fatalf("a linked to %v, want b", ids)
			}
			n.Crash("b")
			simSettle(n, 5*time.Second)
			if ids := a.Nodes(); len(ids) != 0 {
				t.Errorf("a still linked to %v", ids)
			}
		})
		if dials > 0 {
			redials++
			t.Logf("seed %d: a dialled b %d times after the link failed", seed, dials)
		}
	}
	if redials > 0 {
		t.Errorf("in %d of %d runs a dialled b again after the link failed, with nothing to send", redials, runs)
	}
}
