package node_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// connectWatch watches the link between nodes a and b from both sides: the
// node-up/node-down events, monitors on the other node and on a port there,
// and the messages that port receives.
type connectWatch struct {
	mu      sync.Mutex
	events  []string       // "a: b up", "b: a down …", monitor firings
	got     map[string]int // messages received, by receiving node
	inboxes map[string]string
}

func newConnectWatch(a, b *node.Node) *connectWatch {
	w := &connectWatch{got: make(map[string]int), inboxes: make(map[string]string)}
	for _, nd := range []*node.Node{a, b} {
		id := nd.ID()
		nd.MonitorNodes(func(peer string, up bool, reason []any) {
			w.note("%s: %s up=%v %s", id, peer, up, simReason(reason))
		})
		w.inboxes[id] = nd.Port(func(*node.Context, []any) error {
			w.mu.Lock()
			w.got[id]++
			w.mu.Unlock()
			return nil
		})
	}
	return w
}

func (w *connectWatch) note(format string, args ...any) {
	w.mu.Lock()
	w.events = append(w.events, fmt.Sprintf(format, args...))
	w.mu.Unlock()
}

// reach makes from monitor the other node and its inbox, and send it k
// messages: the link is wanted from now on.
func (w *connectWatch) reach(from *node.Node, to string, k int) {
	id := from.ID()
	from.Monitor(to, node.Func(func(r []any) { w.note("%s: monitor on node %s fired: %s", id, to, simReason(r)) }))
	from.Monitor(w.inboxes[to], node.Func(func(r []any) { w.note("%s: monitor on %s's port fired: %s", id, to, simReason(r)) }))
	for i := range k {
		from.Send(w.inboxes[to], "hello", i)
	}
}

func (w *connectWatch) take() ([]string, map[string]int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev, got := w.events, w.got
	w.events, w.got = nil, make(map[string]int)
	slices.Sort(ev)
	return ev, got
}

// check: exactly one link, seen up once on each side, nothing down, no
// monitor fired, every message arrived.
func (w *connectWatch) check(a, b *node.Node, k int) error {
	ev, got := w.take()
	want := []string{"a: b up=true normal", "b: a up=true normal"}
	var problems []string
	if !slices.Equal(ev, want) {
		problems = append(problems, fmt.Sprintf("events %q, want %q", ev, want))
	}
	if ids := a.Nodes(); !slices.Equal(ids, []string{"b"}) {
		problems = append(problems, fmt.Sprintf("a.Nodes() = %v", ids))
	}
	if ids := b.Nodes(); !slices.Equal(ids, []string{"a"}) {
		problems = append(problems, fmt.Sprintf("b.Nodes() = %v", ids))
	}
	if got["a"] != k || got["b"] != k {
		problems = append(problems, fmt.Sprintf("messages received: a %d, b %d, want %d each", got["a"], got["b"], k))
	}
	if problems != nil {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Simultaneous connects: nodes a and b both know each other's address, and
// at the same instant each starts sending to the other and monitoring it,
// so that both dial at once. The tie-break — the connection made by the
// node with the smaller ID wins, the other is refused at the greeting —
// leaves exactly one link, seen up once on each side; no monitor fires, no
// node-down event, no message is lost. Then the same with b starting
// slightly later than a, by offsets up to several round trips, and the
// other way round, so that the two handshakes overlap in every way.
func TestSimSimultaneousConnect(t *testing.T) {
	offsets := []time.Duration{0}
	for d := time.Millisecond; d <= 40*time.Millisecond; d += 3 * time.Millisecond {
		offsets = append(offsets, d, -d)
	}
	var failures []string
	for seed := uint64(1); seed <= 6; seed++ {
		for _, off := range offsets {
			// Dials after the reset, to each node's listener.
			var reset bool
			dials := make(map[string]int)
			cfg := sim.Config{
				Seed:    seed,
				Latency: sim.Latency{Min: time.Millisecond, Max: 10 * time.Millisecond},
				OnEvent: func(e sim.Event) {
					switch {
					case e.Kind == "reset":
						reset = true
					case e.Kind == "syn" && reset:
						dials[e.To]++
					}
				},
			}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
				if err := simSimultaneous(t, n, seed, off); err != nil {
					failures = append(failures, fmt.Sprintf("seed %d, b %v after a: %v", seed, off, err))
				}
			})
			if off == 0 && (dials["a:4000"] != 1 || dials["b:4000"] != 1) {
				t.Errorf("seed %d: dials after the reset %v, want one each way: the connects were not simultaneous", seed, dials)
			}
		}
	}
	if failures != nil {
		t.Errorf("%d of %d runs:\n%s", len(failures), 6*len(offsets), strings.Join(failures, "\n"))
	}
}

func simSimultaneous(t *testing.T, n *sim.Network, seed uint64, off time.Duration) error {
	c := newSimCluster(t, n, simOpts{coalesce: seed%2 == 0}, "a", "b")
	defer c.close()
	a, b := c.node("a"), c.node("b")
	// Both learn the other's address; then the link goes away without a
	// trace: a reset, then the monitors that fired and the events are
	// forgotten.
	c.link("a", "b")
	simSettle(n, 100*time.Millisecond)
	c.link("b", "a") // already linked: b only notes a's address
	w := newConnectWatch(a, b)
	n.Reset("a", "b")
	simSettle(n, time.Second)
	if ids := append(a.Nodes(), b.Nodes()...); len(ids) != 0 {
		t.Fatalf("linked after the reset: %v", ids)
	}
	w.take()

	const k = 20
	first, second := a, b
	if off < 0 {
		first, second, off = b, a, -off
	}
	w.reach(first, second.ID(), k)
	if off > 0 {
		n.Clock().Sleep(off)
	}
	w.reach(second, first.ID(), k)
	simSettle(n, 5*time.Second)
	return w.check(a, b, k)
}
