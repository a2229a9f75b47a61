package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
	"github.com/tetherkit/tether/node/db"
	"github.com/tetherkit/tether/persistent"
)

// Node is a node: a set of ports on one process, linked to other nodes.
// All its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	id     string
	log    *slog.Logger
	clk    clock.Clock
	rand   *clock.Rand
	prefix string // prefix of local port names
	spawnP string // prefix of names this node picks for remote spawns

	shards    []*shard
	nextShard atomic.Uint64
	ports     portTable
	graves    graveyard // ports that died recently
	recent    sendCache
	nodePort  *port

	mu       sync.Mutex
	counter  string // last local port name counter
	spawnCtr string // last spawn name counter
	inits    map[string]InitFunc
	closed   bool

	linksMu   sync.Mutex
	links     map[string]*link     // by node ID; a link, once made, stays
	lastLink  atomic.Pointer[link] // the link linkTo returned last
	watchers  []*nodeWatcher
	listeners []net.Listener
	connSeq   atomic.Uint64 // the last connection's id

	// The registry: its backend (the embedded one is global, nil if
	// Config.Registry gave another), the seeds, the links kept to globals.
	reg     Registry
	global  *globals
	owned   dbOwned
	seedIDs []string // by rank: the node at each seed address, once known (under mu)
	seeders []*persistent.Conn[string, *conn]
	keepMu  sync.Mutex
	keepers map[string]*keeper

	handshakes inflight // the incoming handshakes in flight (Limits.Handshakes)
	beats      heartbeats
	rated      rateLog

	ctx    context.Context // ends when the node closes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
}

// Start starts a node: it expands the ID, starts the executors, and
// listens on cfg.Binds. It returns an error if the config is invalid or a
// bind fails; ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	id, random, err := expandID(cfg.ID, cfg.Hostname, cfg.Rand)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:        cfg,
		id:         id,
		log:        cfg.Logger.With("node", id),
		clk:        cfg.Clock,
		rand:       cfg.Rand,
		spawnP:     runiq(cfg.Rand),
		counter:    "a",
		spawnCtr:   "a",
		inits:      make(map[string]InitFunc),
		links:      make(map[string]*link),
		keepers:    make(map[string]*keeper),
		handshakes: inflight{limit: cfg.Limits.Handshakes},
		done:       make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if !random {
		n.prefix = randomString(cfg.Rand, 9)
	}
	for range cfg.Shards {
		s := newShard(n, cfg.Limits.LocalQueue, cfg.Limits.QueueBytes)
		n.shards = append(n.shards, s)
		n.wg.Add(1)
		go s.run(n.wg.Done)
	}
	n.nodePort = &port{id: id + "#", shard: n.shards[0]}
	n.nodePort.cb = n.nodePortRequest
	n.ports.store("", n.nodePort)
	if cfg.Registry != nil {
		if n.reg, err = cfg.Registry(n); err != nil {
			n.Close(ctx)
			return nil, fmt.Errorf("node: registry: %w", err)
		}
	} else {
		n.global = newGlobals(n)
		n.reg = n.global
	}
	for _, b := range cfg.Binds {
		ln, err := cfg.Transport.Listen("tcp", bindAddress(b))
		if err != nil {
			n.Close(ctx)
			return nil, fmt.Errorf("node: listen on %s: %w", b, err)
		}
		n.listeners = append(n.listeners, ln)
	}
	// Publish where this node listens (none: it is private, reachable only
	// over the links it makes), then listen and seed.
	if err := n.reg.Set(db.FamilyListen, id, listenAddrs(n.listeners)); err != nil {
		n.Close(ctx)
		return nil, fmt.Errorf("node: publishing the listen addresses: %w", err)
	}
	for _, ln := range n.listeners {
		n.wg.Go(func() { n.listen(ln) })
	}
	n.startSeeds()
	return n, nil
}

// Addrs returns the addresses the node listens on.
func (n *Node) Addrs() []string {
	var as []string
	for _, ln := range n.listeners {
		as = append(as, ln.Addr().String())
	}
	return as
}

// closing reports whether Close has been called.
func (n *Node) closing() bool { return n.ctx.Err() != nil }

// ID returns the node's ID.
func (n *Node) ID() string { return n.id }

// Close stops the node. First it drains, within ctx: every port dies a
// normal death (the nodes that monitor them are told so), the executors
// run what was queued before Close (messages, those deaths, the monitors
// they fire) and the links write out what they hold — so the messages sent
// before Close are delivered, to local ports and to other nodes. Then the
// links close, the executors stop (what is queued still is dropped) and
// Close returns once everything has stopped, or ctx.Err() if ctx ends
// first (the draining is cut short then, and the rest goes on in the
// background).
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return n.wait(ctx)
	}
	n.closed = true
	n.mu.Unlock()
	for _, ln := range n.listeners {
		ln.Close()
	}
	n.drain(ctx)
	n.cancel()
	n.stopKeeping()
	if n.reg != nil {
		n.reg.Close() // first: the links going down tell the registry nothing more
	}
	n.closeLinks()
	for _, pc := range n.seeders {
		n.wg.Go(func() { pc.Close(context.Background()) })
	}
	for _, s := range n.shards {
		s.stop()
	}
	go func() { n.wg.Wait(); close(n.done) }()
	return n.wait(ctx)
}

// drain kills every port (normally), lets the executors run what is queued
// before and what that brings about, and waits for the links to write what
// they hold; ctx bounds it.
func (n *Node) drain(ctx context.Context) {
	for _, p := range n.ports.all() {
		if p != n.nodePort {
			n.killLocal(p, nil, false)
		}
	}
	// Twice: the deaths fire monitors, whose actions are queued after the
	// first round of markers (a registration's deletion, say).
	for range 2 {
		var markers []chan struct{}
		for _, s := range n.shards {
			done := make(chan struct{})
			markers = append(markers, done)
			s.push(item{p: &port{shard: s}, fn: func(*Context) { close(done) }}, false)
		}
		for _, done := range markers {
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
	}
	if n.global != nil {
		n.global.settle(ctx)
	}
	n.linksMu.Lock()
	links := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		links = append(links, l)
	}
	n.linksMu.Unlock()
	// Then each connection ends as TCP lets it end without loss: what was
	// queued written, a FIN (CloseWrite), and the peer's end read. (Closing
	// with the peer's bytes unread would send a RST, and a peer that has
	// not read all we wrote yet would lose it.)
	var closing []*conn
	for _, l := range links {
		c := l.current()
		if c == nil {
			continue
		}
		c.w.Flush(ctx)
		if cw, ok := c.al.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			closing = append(closing, c)
		}
	}
	// A peer that does not end its side is waited for ConnectTimeout at
	// most.
	linger, cancel := clock.WithTimeout(ctx, n.clk, n.cfg.ConnectTimeout)
	defer cancel()
	for _, c := range closing {
		select {
		case <-c.Done():
		case <-linger.Done():
			return
		}
	}
}

func (n *Node) wait(ctx context.Context) error {
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newName returns a fresh local port name.
func (n *Node) newName() string {
	n.mu.Lock()
	n.counter = nextCounter(n.counter)
	name := n.prefix + n.counter
	n.mu.Unlock()
	return name
}

// Port creates a local port and returns its ID. cb receives every message
// that no tag handler takes; a nil cb makes the port kill itself with
// "unhandled_message" when such a message arrives.
func (n *Node) Port(cb Callback) string {
	p := n.newPort(n.newName(), cb)
	return p.id
}

func (n *Node) newPort(name string, cb Callback) *port {
	p := &port{id: n.id + "#" + name, shard: n.shardOf(), cb: cb}
	n.ports.store(name, p)
	return p
}

// lookup returns the live local port named name, or nil.
func (n *Node) lookup(name string) *port { return n.ports.load(name) }

// ErrNotLocal: the operation needs a port of this node.
var ErrNotLocal = errors.New("not a port of this node")

// Rcv sets the handler for messages tagged tag on a local port (nil
// removes it), taking effect before any message sent after Rcv returns. It
// returns ErrNotLocal for another node's port; a port that does not exist
// is ignored, like a message to it.
func (n *Node) Rcv(port, tag string, cb Callback) error {
	p, err := n.local(port)
	if p == nil {
		return err
	}
	p.shard.push(item{p: p, fn: func(*Context) { setHandler(p, tag, cb) }}, true)
	return nil
}

// local resolves a port ID of this node.
func (n *Node) local(port string) (*port, error) {
	node, name := splitPort(port)
	if node != n.id {
		return nil, fmt.Errorf("%w: %s", ErrNotLocal, port)
	}
	return n.lookup(name), nil
}

// Eval runs fn in the context of a local port (AnyEvent::MP's peval),
// after whatever is queued for it; it reports false if there is no such
// port.
func (n *Node) Eval(port string, fn func(c *Context)) bool {
	p, _ := n.local(port)
	if p == nil {
		return false
	}
	p.shard.push(item{p: p, fn: fn}, true)
	return true
}

// Send sends msg to port, asynchronously: it never waits for the network
// (connections are made in the background and messages queue meanwhile)
// and a message to a port that does not exist vanishes. Messages from one
// sender to one port arrive in the order sent. Send keeps nothing of msg:
// a port gets its own copy, on this node as on another, so the sender may
// reuse its buffers as soon as Send returns, and the port may change what
// it got. Keeping nothing is also what lets a Send to another node
// allocate nothing: its arguments, and the values boxed into them, stay
// on the caller's stack.
//
// The message is converted as aemp.Normalize says, for a local port as for
// a remote one, so a port sees the same Go types whoever sent it (an int
// arrives as int64). A message that cannot travel — a value outside the
// message model (an *aemp.ValueError), or a frame beyond the limits (an
// *aemp.FrameError) — is not sent anywhere and Send returns the error; no
// other message or link is affected. Send returns no other error.
//
// Outside port context, Send waits while the target port's executor is far
// behind (Limits.LocalQueue, Limits.QueueBytes) or the connection to its
// node has a full send queue (Limits.SendQueue), which pushes back on a
// producer that outruns them. In port context (Context.Send) it never
// waits: a full queue fails the link instead, and the monitors on that
// node fire with "send queue full". While there is no connection (the link
// is connecting, or down) Send does not wait either: the link queues up to
// Limits.SendQueue bytes, and past that fails, dropping the queue and
// firing the monitors.
func (n *Node) Send(port string, msg ...any) error { return n.send(port, msg, true) }

// send is Send. A local port gets a deep copy of msg (aemp.CopyList) and
// the remote path encodes msg without keeping it, so that nothing of msg
// escapes but the bytes of long strings, two pointers away: every path it
// takes must keep it so (go build -gcflags=-m=2 shows no leak of msg with
// derefs=1; TestRemoteSendDoesNotAllocate checks it).
func (n *Node) send(port string, msg []any, mayWait bool) error {
	if p := n.recent.get(port); p != nil {
		return n.sendLocal(p, msg, mayWait)
	}
	node, name := splitPort(port)
	if node == n.id {
		if p := n.lookup(name); p != nil {
			n.recent.put(port, p)
			return n.sendLocal(p, msg, mayWait)
		}
		_, err := own(msg) // a message to nobody must still be a message
		return err
	}
	return n.sendRemote(node, name, msg, mayWait)
}

// sendHere is send from a handler that a link's reader runs: a message to
// another node whose link is up goes out through conn.sendHere.
func (n *Node) sendHere(port string, msg []any) error {
	if n.recent.get(port) == nil {
		if node, name := splitPort(port); node != n.id {
			if l := n.linkTo(node, true); l != nil {
				if c := l.cur.Load(); c != nil {
					return c.sendHere(name, msg)
				}
			}
		}
	}
	return n.send(port, msg, false)
}

func (n *Node) sendLocal(p *port, msg []any, mayWait bool) error {
	m, err := own(msg)
	if err != nil {
		return err
	}
	p.shard.push(item{p: p, msg: m}, mayWait)
	return nil
}

// own returns a deep copy of msg for a local port to keep, converted into
// the message model (aemp.Copy), or the *aemp.ValueError of a value outside
// it. Nothing in it is shared with the sender: the receiving port may
// change a []byte it got, and the sender may reuse its own.
func own(msg []any) ([]any, error) { return aemp.CopyList(msg) }

// Kill kills port: with no reason a normal death, otherwise an abnormal
// one with that reason. A local port stops taking messages at once —
// messages sent to it after Kill returns are dropped — but dies
// asynchronously: the messages already queued are handled first, then its
// monitors fire, those set after Kill included. Killing a port that does
// not exist does nothing, and the node port cannot be killed.
func (n *Node) Kill(port string, reason ...any) {
	node, name := splitPort(port)
	if name == "" {
		n.log.Warn("refused to kill a node port", "port", port)
		return
	}
	if node != n.id {
		n.killRemote(node, name, reason)
		return
	}
	if p := n.lookup(name); p != nil {
		n.killLocal(p, reason, true)
	}
}

// killLocal kills p as Kill describes. mayWait: see shard.push.
func (n *Node) killLocal(p *port, reason []any, mayWait bool) {
	if p == n.nodePort {
		n.shardKill(p, reason) // which refuses, and says so
		return
	}
	n.unlist(p)
	p.shard.push(item{p: p, fn: func(*Context) { n.shardKill(p, reason) }}, mayWait)
}

// unlist takes p out of the port table and into the graveyard.
func (n *Node) unlist(p *port) {
	name := p.name(n)
	n.ports.delete(name, p)
	n.graves.bury(name, p)
}

// lookupForMonitor is lookup for a monitor: it also finds the ports that
// died recently (see graveyard), whose monitors fire with their reason.
func (n *Node) lookupForMonitor(name string) *port {
	if p := n.lookup(name); p != nil {
		return p
	}
	return n.graves.find(name)
}

// shardKill kills p now; it runs on p's shard. The monitors fire, the
// nodes that monitor p are told.
func (n *Node) shardKill(p *port, reason []any) {
	if p.dead {
		return
	}
	if p == n.nodePort {
		n.log.Error("the node port was to die; it lives on", "reason", FormatReason(reason))
		return
	}
	p.dead = true
	p.cb, p.tags = nil, nil
	p.shard.hPort = nil
	n.unlist(p)
	if p.mons == nil {
		p.mons = &monitors{} // keeps the reason for monitors set from now on
	}
	p.mons.reason = reason
	for _, m := range p.mons.local {
		m.fire(n, reason)
	}
	p.mons.local = nil
	for node := range p.mons.remote {
		n.sendRemote(node, "", append([]any{aemp.ReqKil0, p.name(n)}, reason...), false)
	}
	p.mons.remote = nil
}
