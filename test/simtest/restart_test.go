package simtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// A node restarted after a crash makes port IDs — local ports and the
// names it picks for remote spawns — that no earlier incarnation made,
// because it takes its randomness from the new incarnation's Host.Rand.
// (With one stream for every incarnation, it repeated them all, and a
// message for a port of the old incarnation reached the new port of the
// same name.)
func TestRestartedNodeMakesNewPortIDs(t *testing.T) {
	sim.Test(t, netConfig, func(t *testing.T, n *sim.Network) {
		start := func(name string, r func(*sim.Host) *clock.Rand) *node.Node {
			h := n.Host(name)
			nd, err := node.Start(context.Background(), node.Config{
				ID: name, Binds: []string{name + ":4000"}, Secret: "s",
				Transport: h.Transport(), Clock: h.Clock(), Rand: r(h), Hostname: name,
			})
			if err != nil {
				t.Fatal(err)
			}
			return nd
		}
		ids := func(nd *node.Node) []string {
			return []string{nd.Port(nil), nd.Port(nil), nd.Spawn("other", "x"), nd.Spawn("other", "x")}
		}
		seen := make(map[string]int)
		var nodes []*node.Node
		for inc := range 3 {
			nd := start("a", func(h *sim.Host) *clock.Rand { return h.Rand("node") })
			nodes = append(nodes, nd)
			for _, id := range ids(nd) {
				if prev, ok := seen[id]; ok {
					t.Errorf("incarnation %d made %s, as incarnation %d did", inc, id, prev)
				}
				seen[id] = inc
			}
			n.Crash("a")
		}
		// The same stream in every incarnation repeats the IDs.
		old := start("b", func(*sim.Host) *clock.Rand { return n.Rand("b") })
		first := ids(old)
		n.Crash("b")
		again := start("b", func(*sim.Host) *clock.Rand { return n.Rand("b") })
		if second := ids(again); second[0] != first[0] {
			t.Errorf("with one stream for both incarnations: %v, then %v; the test shows nothing", first, second)
		}
		n.Clock().Sleep(time.Second)
		for _, nd := range append(nodes, old, again) {
			nd.Close(context.Background())
		}
	})
}
