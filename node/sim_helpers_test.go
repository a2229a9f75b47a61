package node_test

// Helpers for the simulation tests (sim_*_test.go): nodes on the hosts of a
// test/sim network, and a trace recorder on the network's fake clock.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// simSecret is the secret every simulated node shares.
const simSecret = "sim-secret"

// simOpts configures the nodes of a simCluster.
type simOpts struct {
	shards    int           // executors per node (default 1)
	coalesce  bool          // with nagle: hold each host's writes (sim.Network.SetNagle)
	nagle     time.Duration // how long; test/sim joins the writes of one instant anyway
	heartbeat time.Duration // Config.Heartbeat (0: the default; <0: off)
	hbTimeout time.Duration // Config.HeartbeatTimeout
	connect   time.Duration // Config.ConnectTimeout
	limits    node.Limits   // Config.Limits
	seeds     []string      // Config.Seeds
}

// simCluster is a set of nodes, one per host, each listening on
// "HOST:4000", with the network's clock and a random stream of its own.
type simCluster struct {
	t     *testing.T
	n     *sim.Network
	nodes map[string]*node.Node
	order []string
	runs  map[string]int // how many times each node has started
}

func newSimCluster(t *testing.T, n *sim.Network, o simOpts, ids ...string) *simCluster {
	t.Helper()
	c := &simCluster{t: t, n: n, nodes: make(map[string]*node.Node), runs: make(map[string]int)}
	for _, id := range ids {
		c.start(id, o)
	}
	return c
}

// start starts node id on host id.
func (c *simCluster) start(id string, o simOpts) *node.Node {
	c.t.Helper()
	shards := o.shards
	if shards == 0 {
		shards = 1
	}
	if o.coalesce {
		c.n.SetNagle(id, o.nagle)
	}
	h := c.n.Host(id)
	// A node started again on the same host (not crashed: a crash gives
	// the host new random streams) draws from a stream of its own, so that
	// its port names differ from its earlier runs'.
	c.runs[id]++
	stream := "node"
	if c.runs[id] > 1 {
		stream = fmt.Sprintf("node/%d", c.runs[id])
	}
	nd, err := node.Start(context.Background(), node.Config{
		ID:               id,
		Binds:            []string{id + ":4000"},
		Secret:           simSecret,
		Transport:        h.Transport(),
		Clock:            h.Clock(),
		Rand:             h.Rand(stream),
		Seeds:            o.seeds,
		Shards:           shards,
		Heartbeat:        o.heartbeat,
		HeartbeatTimeout: o.hbTimeout,
		ConnectTimeout:   o.connect,
		Limits:           o.limits,
		Hostname:         id,
	})
	if err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	c.nodes[id] = nd
	if !slices.Contains(c.order, id) {
		c.order = append(c.order, id)
	}
	return nd
}

func (c *simCluster) node(id string) *node.Node { return c.nodes[id] }

// link makes from learn to's address and connect to it (AddNode).
func (c *simCluster) link(from, to string) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id, err := c.nodes[from].AddNode(ctx, to+":4000")
	if err != nil || id != to {
		c.t.Fatalf("%s.AddNode(%s) = %q, %v", from, to, id, err)
	}
}

// close closes every node, in reverse order of starting; call it (deferred)
// before the simulation function returns, so that no goroutine is left.
func (c *simCluster) close() {
	for _, id := range slices.Backward(c.order) {
		c.nodes[id].Close(context.Background())
	}
}

// simSettle lets fake time pass — more than any latency and handshake in
// these tests — and what is then due happen.
func simSettle(n *sim.Network, d time.Duration) {
	n.Clock().Sleep(d)
	n.Wait()
}

// simTrace records lines stamped with fake time, from any goroutine.
// Lines recorded at the same instant by goroutines that woke together are
// in no particular order, so sorted() orders each instant's lines.
type simTrace struct {
	n     *sim.Network
	start time.Time

	mu      sync.Mutex
	lines   []simTraceLine
	stopped bool
}

type simTraceLine struct {
	at   time.Duration
	text string
}

func newSimTrace(n *sim.Network) *simTrace {
	return &simTrace{n: n, start: n.Clock().Now()}
}

func (tr *simTrace) add(format string, args ...any) {
	at := tr.n.Clock().Since(tr.start)
	text := fmt.Sprintf(format, args...)
	tr.mu.Lock()
	if !tr.stopped {
		tr.lines = append(tr.lines, simTraceLine{at, text})
	}
	tr.mu.Unlock()
}

// stop ends the recording: call it before closing the nodes, whose
// executors drop the work queued when they stop (node-down events among
// it), so what they record while closing is not reproducible.
func (tr *simTrace) stop() {
	tr.mu.Lock()
	tr.stopped = true
	tr.mu.Unlock()
}

// sorted returns the lines, "AT TEXT", by time and, within an instant, by
// text.
func (tr *simTrace) sorted() []string {
	tr.mu.Lock()
	ls := slices.Clone(tr.lines)
	tr.mu.Unlock()
	slices.SortStableFunc(ls, func(a, b simTraceLine) int {
		return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.text, b.text))
	})
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = fmt.Sprintf("%v %s", l.at, l.text)
	}
	return out
}

// simReason is a monitor reason for traces and messages.
func simReason(r []any) string { return node.FormatReason(r) }

// simIsTransportError reports whether r is a transport_error reason.
func simIsTransportError(r []any) bool { return len(r) > 0 && r[0] == node.ReasonTransport }
