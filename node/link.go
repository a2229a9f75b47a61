package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
	"github.com/tetherkit/tether/persistent"
)

// link is this node's relation with one other node: the connection in use
// (made by either side), frames waiting for one, and the monitors set here
// on that node's ports and on the node itself.
//
// A link connects on demand — when there is something to send or a monitor
// to honour — through a persistent connection that tries the peer's known
// addresses in turn. When the connection in use dies, or none comes up
// within Config.ConnectTimeout while something waits, the link fails: the
// queue is dropped and every monitor fires with transport_error before
// anything more is sent to that node ("no silent holes").
type link struct {
	n    *Node
	peer string
	src  *string // &peer: the sender carried by items from this node

	// monMu makes deciding to send mon1 or mon0 and sending it one step,
	// so that they leave in the order decided.
	monMu sync.Mutex

	mu       sync.Mutex
	addrs    []string
	pc       *persistent.Conn[string, *conn] // outgoing attempts; nil when none are wanted
	pcGen    uint64                          // persistent connections made; the last is pc
	outgoing int                             // our handshakes with the peer under way
	changed  chan struct{}                   // closed (and replaced) when cur changes or an incoming handshake ends
	cur      *conn                           // the connection in use
	queue    [][]any                         // frames waiting for a connection
	queued   int                             // their estimated size in bytes
	mons     map[string][]*monitor           // monitors on the peer's ports, by name
	nodeMons []*monitor                      // monitors on the peer itself
	timer    clock.Timer                     // the connect timeout, while armed
}

// Simultaneous connects. Both nodes may be connecting to each other at
// once; exactly one connection must become the link, on both sides, or
// both would drop one and fire monitors. The node with the smaller ID
// decides: it never lets an outgoing handshake and an incoming one from
// the same peer both pass the greeting (a handshake refused there ends
// before the peer could complete it). Its own outgoing handshake wins if
// it started first; the peer's if the peer's passed the greeting first.
// The node with the larger ID accepts whatever the smaller one lets
// through. What the smaller node checks: l.outgoing, and the count of the
// peer's handshakes under way (Node.incoming, kept by node ID so that an
// unauthenticated greeting makes no link).

// yieldLocked says whether an outgoing handshake to the peer should give
// way to an incoming one. l.mu is held.
func (l *link) yieldLocked() bool { return l.n.id < l.peer && l.n.incomingFrom(l.peer) > 0 }

// incomingFrom returns the number of peer's handshakes under way.
func (n *Node) incomingFrom(peer string) int {
	n.inMu.Lock()
	defer n.inMu.Unlock()
	return n.incoming[peer]
}

// countIncoming adds d to the number of peer's handshakes under way.
func (n *Node) countIncoming(peer string, d int) {
	n.inMu.Lock()
	defer n.inMu.Unlock()
	if n.incoming[peer] += d; n.incoming[peer] == 0 {
		delete(n.incoming, peer)
	}
}

// changedLocked wakes those waiting for the link to change. l.mu is held.
func (l *link) changedLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// errYield refuses our own handshake in favour of the peer's.
var errYield = fmt.Errorf("%w: the peer's connection to us comes first", aemp.ErrAlreadyConnected)

// linkTo returns the link to node, making it if create is set.
func (n *Node) linkTo(node string, create bool) *link {
	if l := n.lastLink.Load(); l != nil && l.peer == node {
		return l // the common case of many sends to one node, without the lock
	}
	n.linksMu.Lock()
	defer n.linksMu.Unlock()
	l := n.links[node]
	if l == nil && create && !n.closing() {
		l = &link{n: n, peer: node, mons: make(map[string][]*monitor)}
		l.src = &l.peer
		n.links[node] = l
	}
	if l != nil {
		n.lastLink.Store(l)
	}
	return l
}

// send queues the frame [port, msg…] for the peer: on the connection in
// use, or until one comes up. mayWait: see conn.send.
func (l *link) send(port string, msg []any, mayWait bool) {
	l.mu.Lock()
	if c := l.cur; c != nil {
		l.mu.Unlock()
		c.send(port, msg, mayWait)
		return
	}
	frame := append(append(make([]any, 0, len(msg)+1), port), msg...)
	norm, err := aemp.NormalizeFrame(frame[1:]) // no copy when msg is in the model already
	if err != nil {
		l.mu.Unlock()
		l.n.log.Warn("a message cannot travel: failing the link", "node", l.peer, "err", err)
		l.failCurrent("message not sent: " + err.Error())
		return
	}
	frame = append(frame[:1], norm...)
	l.queue = append(l.queue, frame)
	l.queued += 16 + 16*len(frame)
	over := l.queued > l.n.cfg.Limits.SendQueue
	l.wantLocked()
	l.mu.Unlock()
	if over {
		l.fail(nil, "send queue full")
	}
}

// wantLocked makes sure a connection is being sought: an outgoing
// persistent connection if addresses are known, and the connect timeout.
// l.mu is held.
func (l *link) wantLocked() {
	if l.cur != nil {
		return
	}
	if l.timer == nil {
		l.timer = l.n.clk.AfterFunc(l.n.cfg.ConnectTimeout, l.connectTimeout)
	}
	if l.pc == nil && len(l.addrs) > 0 {
		l.pc = l.newPersistent()
	}
}

func (l *link) connectTimeout() {
	l.mu.Lock()
	if l.cur != nil || l.timer == nil {
		l.mu.Unlock()
		return
	}
	l.timer = nil
	text := "connect timeout"
	if len(l.addrs) == 0 {
		text = "no known address"
	}
	l.mu.Unlock()
	l.fail(nil, text)
}

// newPersistent makes the link's outgoing persistent connection. l.mu is
// held.
func (l *link) newPersistent() *persistent.Conn[string, *conn] {
	n := l.n
	l.pcGen++
	gen := l.pcGen
	pc, err := persistent.New(persistent.Config[string, *conn]{
		ServerName: "node " + l.peer,
		Resolver:   addr.NewList(l.addrs...),
		Connect:    func(ctx context.Context, a string) (*conn, error) { return l.dial(ctx, a, gen) },
		RetryDelay: persistent.Constant(250 * time.Millisecond),
		Clock:      n.clk,
		Rand:       n.rand.Derive("link/" + l.peer),
		Logger:     n.cfg.Logger,
	})
	if err != nil {
		panic(err) // the config above is always valid
	}
	return pc
}

// dial makes one outgoing connection to the peer at address, for the
// persistent connection number gen: none once that one is not the link's
// any more (its attempt may start before fail or attach has closed it).
func (l *link) dial(ctx context.Context, address string, gen uint64) (*conn, error) {
	n := l.n
	l.mu.Lock()
	switch {
	case l.cur != nil:
		l.mu.Unlock()
		return nil, fmt.Errorf("connected already")
	case l.pc == nil || l.pcGen != gen:
		l.mu.Unlock()
		return nil, fmt.Errorf("not wanted any more")
	case l.yieldLocked():
		l.mu.Unlock()
		return nil, errYield
	}
	l.outgoing++
	l.mu.Unlock()
	defer l.doneOutgoing()
	nc, err := n.cfg.Transport.Dial(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	al, err := aemp.Handshake(ctx, nc, n.handshakeConfig(func(g *aemp.Greeting) error {
		if g.NodeID != l.peer {
			return fmt.Errorf("%s is node %s, not %s", address, g.NodeID, l.peer)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case l.cur != nil:
			return aemp.ErrAlreadyConnected
		case l.yieldLocked():
			return errYield
		}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	c := newConn(l, al)
	if !l.attach(c, true) {
		c.fail(aemp.ErrAlreadyConnected)
		return nil, aemp.ErrAlreadyConnected
	}
	return c, nil
}

// doneOutgoing ends the count of one outgoing handshake.
func (l *link) doneOutgoing() {
	l.mu.Lock()
	l.outgoing--
	l.mu.Unlock()
}

// checkIncoming decides, at its greeting, whether a connection from peer
// may go on to become the link: not if one is in use, nor if this node has
// the smaller ID and is connecting to peer itself (see yieldLocked). A
// connection let through is counted until doneIncoming.
func (n *Node) checkIncoming(peer string) error {
	// Count first, then check: a dial that starts meanwhile sees the count.
	n.countIncoming(peer, 1)
	l := n.linkTo(peer, false)
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	switch {
	case l.cur != nil:
		err = aemp.ErrAlreadyConnected
	case l.outgoing > 0 && n.id < peer:
		err = fmt.Errorf("%w: connecting to it at the same time; my connection wins", aemp.ErrAlreadyConnected)
	default:
		return nil
	}
	n.countIncoming(peer, -1)
	return err
}

// doneIncoming ends the count of one of peer's handshakes that
// checkIncoming let through.
func (n *Node) doneIncoming(peer string) {
	n.countIncoming(peer, -1)
	if l := n.linkTo(peer, false); l != nil {
		l.mu.Lock()
		l.changedLocked()
		l.mu.Unlock()
	}
}

// attach makes c the connection in use, if there is none: the queue goes
// out on it, before anything sent later; the connect timeout stops; the
// node monitors learn the node is up. fromPC says c is the link's
// persistent connection's; any other connection makes that one's attempts
// pointless. It reports whether c was taken.
func (l *link) attach(c *conn, fromPC bool) bool {
	l.mu.Lock()
	if l.cur != nil || l.n.closing() {
		l.mu.Unlock()
		return false
	}
	// The queue goes to c's writer before c is published: a send that
	// sees l.cur cannot overtake it.
	for _, f := range l.queue {
		c.sendFrame(f, false)
	}
	l.queue, l.queued = nil, 0
	l.cur = c
	l.changedLocked()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	var stale *persistent.Conn[string, *conn]
	if l.pc != nil && !fromPC {
		stale, l.pc = l.pc, nil
	}
	l.mu.Unlock()

	c.start()
	if stale != nil {
		l.n.wg.Go(func() { stale.Close(context.Background()) })
	}
	l.n.wg.Go(func() {
		<-c.Done()
		l.fail(c, c.reason())
	})
	l.n.nodeEvent(l.peer, true, nil)
	return true
}

// fail ends the link's current state: if c is the connection in use (or c
// is nil and none is), the queue is dropped and every monitor on the peer
// and its ports fires with transport_error and text. Outgoing attempts
// stop until something is wanted again.
func (l *link) fail(c *conn, text string) {
	l.mu.Lock()
	if c != l.cur {
		l.mu.Unlock()
		return
	}
	l.cur = nil
	l.changedLocked()
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.queue, l.queued = nil, 0
	mons, nodeMons := l.mons, l.nodeMons
	l.mons, l.nodeMons = make(map[string][]*monitor), nil
	pc := l.pc
	l.pc = nil
	l.mu.Unlock()

	if c != nil {
		c.fail(fmt.Errorf("%s", text))
	}
	reason := []any{ReasonTransport, l.peer, text}
	for _, ms := range mons {
		for _, m := range ms {
			m.fire(l.n, reason)
		}
	}
	for _, m := range nodeMons {
		m.fire(l.n, reason)
	}
	if pc != nil {
		l.n.wg.Go(func() { pc.Close(context.Background()) })
	}
	if c != nil {
		l.n.nodeEvent(l.peer, false, reason)
	}
	l.n.log.Info("link failed", "peer", l.peer, "reason", text)
}

// sendRemote sends a message to port name of node ("" for its node
// port). mayWait: see conn.send.
//
// A message with a value that cannot travel (a channel, a func…) fails the
// link, as a frame that cannot be encoded does (see conn.sendFailed):
// the monitors on that node's ports fire rather than the message vanishing.
func (n *Node) sendRemote(node, name string, msg []any, mayWait bool) {
	l := n.linkTo(node, true)
	if l == nil {
		return
	}
	l.send(name, msg, mayWait)
}

// failCurrent fails the link in whatever state it is.
func (l *link) failCurrent(text string) {
	l.mu.Lock()
	c := l.cur
	l.mu.Unlock()
	l.fail(c, text)
}

func (n *Node) killRemote(node, name string, reason []any) {
	n.sendRemote(node, "", append([]any{aemp.ReqKil1, name}, reason...), false)
}

// monitorRemote monitors port name of node: the first monitor of a port
// asks the node to tell us of its death (mon1), the last one stopped tells
// it to stop (mon0).
func (n *Node) monitorRemote(node, name string, m *monitor) Guard {
	l := n.linkTo(node, true)
	if l == nil {
		m.fire(n, []any{ReasonTransport, node, "node closing"})
		return Guard{}
	}
	l.monMu.Lock()
	defer l.monMu.Unlock()
	l.mu.Lock()
	first := len(l.mons[name]) == 0
	l.mons[name] = append(l.mons[name], m)
	l.mu.Unlock()
	if first {
		l.send(aemp.NodePort, []any{aemp.ReqMon1, name}, false)
	}
	return Guard{stop: func() {
		if m.over.Swap(true) {
			return
		}
		l.monMu.Lock()
		defer l.monMu.Unlock()
		l.mu.Lock()
		ms := l.mons[name]
		if i := slices.Index(ms, m); i >= 0 {
			ms = slices.Delete(ms, i, i+1)
		}
		last := len(ms) == 0 && len(l.mons[name]) > 0
		if len(ms) == 0 {
			delete(l.mons, name)
		} else {
			l.mons[name] = ms
		}
		l.mu.Unlock()
		if last {
			l.send(aemp.NodePort, []any{aemp.ReqMon0, name}, false)
		}
	}}
}

// monitorNode fires m when the link to node fails, and makes sure the
// link is wanted (and so connecting).
func (n *Node) monitorNode(node string, m *monitor) Guard {
	l := n.linkTo(node, true)
	if l == nil {
		m.fire(n, []any{ReasonTransport, node, "node closing"})
		return Guard{}
	}
	l.mu.Lock()
	l.nodeMons = append(l.nodeMons, m)
	l.wantLocked()
	l.mu.Unlock()
	return Guard{stop: func() {
		m.over.Store(true)
		l.mu.Lock()
		if i := slices.Index(l.nodeMons, m); i >= 0 {
			l.nodeMons = slices.Delete(l.nodeMons, i, i+1)
		}
		l.mu.Unlock()
	}}
}

// fireRemote fires the monitors set here on port name of l's peer: it
// died with reason (kil0).
func (l *link) fireRemote(name string, reason []any) {
	l.mu.Lock()
	ms := l.mons[name]
	delete(l.mons, name)
	l.mu.Unlock()
	for _, m := range ms {
		m.fire(l.n, reason)
	}
}

// AddNode connects to the node listening at one of addrs (tried in
// order), learns its ID, and returns it; the addresses are kept for
// reconnecting. If the node is connecting to this one at the same moment,
// AddNode succeeds with the link that comes of it. It fails with the last
// address's error when none answers within ctx (each attempt is bounded by
// Config.HandshakeTimeout too).
func (n *Node) AddNode(ctx context.Context, addrs ...string) (string, error) {
	var lastErr error
	for _, a := range addrs {
		for attempt := 1; ; attempt++ {
			peer, err := n.addNodeAt(ctx, a, addrs)
			if err == nil {
				return peer, nil
			}
			lastErr = err
			// A peer that hung up before authenticating may have
			// refused us for its own connection to us, which is on its
			// way: try again shortly, when ours may be the one it waits
			// for, or the link is up.
			if !errors.Is(err, aemp.ErrConnection) || attempt == addNodeAttempts {
				break
			}
			if clock.Sleep(ctx, n.clk, time.Duration(attempt)*addNodeRetry) != nil {
				break
			}
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no addresses")
	}
	return "", fmt.Errorf("node: AddNode %v: %w", addrs, lastErr)
}

// AddNode's attempts per address, and the delay before the second.
const (
	addNodeAttempts = 4
	addNodeRetry    = 20 * time.Millisecond
)

// addNodeAt is one attempt of AddNode, at address a.
func (n *Node) addNodeAt(ctx context.Context, a string, addrs []string) (string, error) {
	nc, err := n.cfg.Transport.Dial(ctx, "tcp", a)
	if err != nil {
		return "", err
	}
	var l *link
	counted := false
	al, err := aemp.Handshake(ctx, nc, n.handshakeConfig(func(g *aemp.Greeting) error {
		l = n.linkTo(g.NodeID, true)
		if l == nil {
			return fmt.Errorf("node closing")
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, a := range addrs {
			if !slices.Contains(l.addrs, a) {
				l.addrs = append(l.addrs, a)
			}
		}
		switch {
		case l.cur != nil:
			return aemp.ErrAlreadyConnected
		case l.yieldLocked():
			return errYield
		}
		l.outgoing++
		counted = true
		return nil
	}))
	if counted {
		defer l.doneOutgoing() // after attach: the count covers the handshake till then
	}
	if err != nil {
		if l != nil && l.settle(ctx) {
			return l.peer, nil // linked after all, by the peer's connection: the addresses are noted
		}
		return "", err
	}
	c := newConn(l, al)
	if !l.attach(c, false) {
		c.fail(aemp.ErrAlreadyConnected)
		if !l.connected() {
			return "", fmt.Errorf("node closing")
		}
	}
	return l.peer, nil
}

// settle waits while the peer has handshakes with this node under way,
// and reports whether the link is up then.
func (l *link) settle(ctx context.Context) bool {
	for {
		l.mu.Lock()
		if l.cur != nil {
			l.mu.Unlock()
			return true
		}
		if l.n.incomingFrom(l.peer) == 0 {
			l.mu.Unlock()
			return false
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (l *link) connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur != nil
}

// RemoveNode forgets node's addresses and closes the link to it; its
// monitors fire with transport_error "removed".
func (n *Node) RemoveNode(node string) {
	l := n.linkTo(node, false)
	if l == nil {
		return
	}
	l.mu.Lock()
	l.addrs = nil
	l.mu.Unlock()
	l.failCurrent("removed")
}

// Nodes returns the IDs of the nodes linked to this one now, sorted.
func (n *Node) Nodes() []string {
	n.linksMu.Lock()
	ls := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		ls = append(ls, l)
	}
	n.linksMu.Unlock()
	var ids []string
	for _, l := range ls {
		if l.connected() {
			ids = append(ids, l.peer)
		}
	}
	slices.Sort(ids)
	return ids
}

// MonitorNodes calls fn whenever a link to a node comes up (up true) or
// fails (up false, with the transport_error reason). fn runs on the node
// port's executor and must return promptly. Stop the guard to stop.
func (n *Node) MonitorNodes(fn func(node string, up bool, reason []any)) Guard {
	h := &nodeWatcher{fn: fn}
	n.linksMu.Lock()
	n.watchers = append(n.watchers, h)
	n.linksMu.Unlock()
	return Guard{stop: func() {
		n.linksMu.Lock()
		n.watchers = slices.DeleteFunc(n.watchers, func(x *nodeWatcher) bool { return x == h })
		n.linksMu.Unlock()
	}}
}

type nodeWatcher struct {
	fn func(node string, up bool, reason []any)
}

func (n *Node) nodeEvent(node string, up bool, reason []any) {
	n.linksMu.Lock()
	ws := slices.Clone(n.watchers)
	n.linksMu.Unlock()
	for _, w := range ws {
		n.nodePort.shard.push(item{p: n.nodePort, fn: func(*Context) { w.fn(node, up, reason) }}, false)
	}
}

// listen accepts connections on l until it is closed.
func (n *Node) listen(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		n.wg.Go(func() { n.accept(nc) })
	}
}

// accept runs the handshake of an incoming connection and makes it the
// link to its node, if it may be.
func (n *Node) accept(nc net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()
	counted := "" // the peer, once the greeting let the connection through
	al, err := aemp.Handshake(ctx, nc, n.handshakeConfig(func(g *aemp.Greeting) error {
		if err := n.checkIncoming(g.NodeID); err != nil {
			return err
		}
		counted = g.NodeID
		return nil
	}))
	if counted != "" {
		defer n.doneIncoming(counted) // after attach: the count covers the handshake till then
	}
	if err != nil {
		n.log.Debug("incoming connection refused", "from", nc.RemoteAddr().String(), "err", err)
		return
	}
	l := n.linkTo(al.PeerID, true)
	if l == nil {
		al.Conn.Close()
		return
	}
	c := newConn(l, al)
	if !l.attach(c, false) {
		c.fail(aemp.ErrAlreadyConnected)
	}
}
