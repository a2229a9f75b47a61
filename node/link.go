package node

import (
	"context"
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

	mu       sync.Mutex
	addrs    []string
	pc       *persistent.Conn[string, *conn] // outgoing attempts; nil when none are wanted
	dialing  bool                            // an outgoing handshake is under way
	cur      *conn                           // the connection in use
	queue    [][]any                         // frames waiting for a connection
	queued   int                             // their estimated size in bytes
	mons     map[string][]*monitor           // monitors on the peer's ports, by name
	nodeMons []*monitor                      // monitors on the peer itself
	timer    clock.Timer                     // the connect timeout, while armed
}

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
	pc, err := persistent.New(persistent.Config[string, *conn]{
		ServerName: "node " + l.peer,
		Resolver:   addr.NewList(l.addrs...),
		Connect:    func(ctx context.Context, a string) (*conn, error) { return l.dial(ctx, a) },
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

// dial makes one outgoing connection to the peer at address.
func (l *link) dial(ctx context.Context, address string) (*conn, error) {
	n := l.n
	l.mu.Lock()
	if l.cur != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("connected already")
	}
	l.dialing = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.dialing = false
		l.mu.Unlock()
	}()
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
		if l.cur != nil {
			return aemp.ErrAlreadyConnected
		}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	c := newConn(l, al)
	if !l.attach(c) {
		c.fail(aemp.ErrAlreadyConnected)
		return nil, aemp.ErrAlreadyConnected
	}
	return c, nil
}

// checkIncoming decides whether a connection from peer may become the
// link: not if one is in use; and when both nodes are connecting to each
// other at once, the connection made by the node with the smaller ID wins,
// on both sides, so that one link results and no monitor fires.
func (n *Node) checkIncoming(peer string) error {
	l := n.linkTo(peer, false)
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.cur != nil:
		return aemp.ErrAlreadyConnected
	case l.dialing && n.id < peer:
		return fmt.Errorf("%w: connecting to it at the same time; my connection wins", aemp.ErrAlreadyConnected)
	}
	return nil
}

// attach makes c the connection in use, if there is none: the queue goes
// out on it, the connect timeout stops, the node monitors learn the node
// is up. It reports whether c was taken.
func (l *link) attach(c *conn) bool {
	l.mu.Lock()
	if l.cur != nil || l.n.closing() {
		l.mu.Unlock()
		return false
	}
	l.cur = c
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	queue := l.queue
	l.queue, l.queued = nil, 0
	// An incoming connection makes outgoing attempts pointless; one of our
	// own is the persistent connection's current one, and stays.
	var stale *persistent.Conn[string, *conn]
	if l.pc != nil && !l.dialing {
		stale, l.pc = l.pc, nil
	}
	l.mu.Unlock()

	c.start()
	for _, f := range queue {
		c.sendFrame(f, false)
	}
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
func (n *Node) sendRemote(node, name string, msg []any, mayWait bool) {
	msg, err := aemp.NormalizeFrame(msg) // no copy when msg is in the model already
	if err != nil {
		n.log.Warn("message not sent: a value cannot travel", "node", node, "err", err)
		return
	}
	if l := n.linkTo(node, true); l != nil {
		l.send(name, msg, mayWait)
	}
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
// reconnecting. It fails with the last address's error when none answers
// within ctx (each attempt is bounded by Config.HandshakeTimeout too).
func (n *Node) AddNode(ctx context.Context, addrs ...string) (string, error) {
	var lastErr error
	for _, a := range addrs {
		nc, err := n.cfg.Transport.Dial(ctx, "tcp", a)
		if err != nil {
			lastErr = err
			continue
		}
		var l *link
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
			if l.cur != nil {
				return aemp.ErrAlreadyConnected
			}
			return nil
		}))
		if err != nil {
			if l != nil && l.connected() {
				return l.peer, nil // already linked: the addresses are noted
			}
			lastErr = err
			continue
		}
		c := newConn(l, al)
		if !l.attach(c) {
			c.fail(aemp.ErrAlreadyConnected)
		}
		return l.peer, nil
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no addresses")
	}
	return "", fmt.Errorf("node: AddNode %v: %w", addrs, lastErr)
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
	c := l.cur
	l.mu.Unlock()
	l.fail(c, "removed")
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
	al, err := aemp.Handshake(ctx, nc, n.handshakeConfig(func(g *aemp.Greeting) error {
		return n.checkIncoming(g.NodeID)
	}))
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
	if !l.attach(c) {
		c.fail(aemp.ErrAlreadyConnected)
	}
}
