package node_test

// Helpers for the simulation tests (sim_*_test.go): nodes on the hosts of a
// test/sim network, an adapter from a sim host to node.Transport, and a
// trace recorder on the network's fake clock.

import (
	"cmp"
	"context"
	"fmt"
	"net"
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

// simTransport is a node.Transport on one host of a simulated network.
//
// test/sim already puts the bytes written to a connection at one instant
// into one segment. With coalesce set, the bytes written during one step of
// the network's scheduler, or with nagle within that much fake time, leave
// as one segment (see coalescingConn): a way to vary how frames are cut
// into segments.
type simTransport struct {
	n        *sim.Network
	h        *sim.Host
	coalesce bool
	nagle    time.Duration // with coalesce: how long bytes wait for more
}

func (t simTransport) Listen(network, address string) (net.Listener, error) {
	l, err := t.h.Listen(address)
	if err != nil || !t.coalesce {
		return l, err
	}
	return &coalescingListener{Listener: l, n: t.n, nagle: t.nagle}, nil
}

func (t simTransport) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := t.h.DialContext(ctx, network, address)
	if err != nil || !t.coalesce {
		return c, err
	}
	return newCoalescingConn(t.n, c, t.nagle), nil
}

type coalescingListener struct {
	net.Listener
	n     *sim.Network
	nagle time.Duration
}

func (l *coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(l.n, c, l.nagle), nil
}

// coalescingConn makes the segments of a connection independent of how
// goroutines interleave. A node's link writes its frames from a batching
// writer goroutine, so how many frames share one Write — and so how many
// segments, each with its own latency draw, the network sees — depends on
// scheduling. Here Write only buffers; the buffer goes out as one Write once
// the program has settled at the current instant (an n.After(0, …) callback
// runs only then), so that everything written during one step of the
// scheduler is one segment, as a TCP stack coalesces small writes. The byte
// stream is the same; only its cutting is made canonical. With a nagle delay
// the bytes wait that long for more (like Nagle's algorithm): a nanosecond
// gathers everything written during one instant, over several steps.
type coalescingConn struct {
	net.Conn
	n     *sim.Network
	nagle time.Duration

	// flushing serializes the Writes to Conn, in buffer order: a channel,
	// not a sync.Mutex, since a goroutine waiting for a mutex is not
	// durably blocked for synctest, and the scheduler's Quiesce would wait
	// for it for ever while the Write it waits for needs a delivery.
	flushing chan struct{}

	mu        sync.Mutex
	buf       []byte
	scheduled bool  // an After(0) flush is pending
	closed    bool  // Close was called
	err       error // the first write error
}

func newCoalescingConn(n *sim.Network, c net.Conn, nagle time.Duration) *coalescingConn {
	return &coalescingConn{Conn: c, n: n, nagle: nagle, flushing: make(chan struct{}, 1)}
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, &net.OpError{Op: "write", Net: "sim", Err: net.ErrClosed}
	case c.err != nil:
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	if !c.scheduled {
		c.scheduled = true
		c.n.After(c.nagle, func() { go c.flush() })
	}
	return len(p), nil
}

// flush writes what is buffered, in one Write.
func (c *coalescingConn) flush() {
	c.flushing <- struct{}{}
	defer func() { <-c.flushing }()
	c.mu.Lock()
	b := c.buf
	c.buf, c.scheduled = nil, false
	c.mu.Unlock()
	if len(b) == 0 {
		return
	}
	if _, err := c.Conn.Write(b); err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
}

// Close sends what is buffered, then closes: the FIN follows the data, as
// with TCP.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return &net.OpError{Op: "close", Net: "sim", Err: net.ErrClosed}
	}
	c.closed = true
	b := c.buf
	c.buf = nil
	c.mu.Unlock()
	select {
	case c.flushing <- struct{}{}:
		if len(b) == 0 { // nothing to send: close now
			err := c.Conn.Close()
			<-c.flushing
			return err
		}
		go c.finish(b, true)
	default: // a flush is under way (the window is full): after it
		go c.finish(b, false)
	}
	return nil
}

// finish writes b, the last bytes, after what is being flushed, and closes.
func (c *coalescingConn) finish(b []byte, locked bool) {
	if !locked {
		c.flushing <- struct{}{}
	}
	defer func() { <-c.flushing }()
	if len(b) > 0 {
		// Bounded, in case the window stays full: a reset or a lost
		// segment frees it, a peer that stopped reading might not.
		c.Conn.SetWriteDeadline(c.n.Clock().Now().Add(time.Second))
		c.Conn.Write(b)
	}
	c.Conn.Close()
}

// simOpts configures the nodes of a simCluster.
type simOpts struct {
	shards    int           // executors per node (default 1)
	coalesce  bool          // see simTransport
	nagle     time.Duration // see simTransport
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
	// A restarted node draws from a stream of its own, so that its port
	// names differ from its earlier runs'.
	c.runs[id]++
	stream := "node-" + id
	if c.runs[id] > 1 {
		stream = fmt.Sprintf("node-%s/%d", id, c.runs[id])
	}
	nd, err := node.Start(context.Background(), node.Config{
		ID:               id,
		Binds:            []string{id + ":4000"},
		Secret:           simSecret,
		Transport:        simTransport{n: c.n, h: c.n.Host(id), coalesce: o.coalesce, nagle: o.nagle},
		Clock:            c.n.Clock(),
		Rand:             c.n.Rand(stream),
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
