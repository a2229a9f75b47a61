package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
)

// link is this node's relation with one other node: the driver of its
// linkState (linkstate.go), which holds the connection in use (made by
// either side), the frames waiting for one, and the monitors set here on
// that node's ports and on the node itself. link runs the state's events
// under mu and carries out their effects: it dials, arms the connect
// timer, writes frames, starts and closes connections, fires monitors.
//
// A link connects on demand — when there is something to send or a monitor
// to honour — with a dial loop that tries the peer's addresses in turn (the
// addresses AddNode gave, or those the registry has), 250 ms apart. When
// the connection in use dies, or none comes up within
// Config.ConnectTimeout while something waits, the link fails: the queue
// is dropped and every monitor fires with transport_error before anything
// more is sent to that node ("no silent holes").
//
// Simultaneous connects. Two nodes may connect to each other at once;
// exactly one connection must become their link, on both sides, or both
// would drop one and fire monitors. The handshake's TieBreak settles it:
// the node with the smaller ID sends its auth line only once the peer's
// has verified, and only on the connection it commits to (linkState.commit:
// the first whose peer authenticated, while no other is committed or in
// use). The larger node can complete only that one. A greeting that merely
// claims an ID commits nothing, so a peer without the secret cannot sway
// the choice or hold a link up.
type link struct {
	n    *Node
	peer string
	src  *string // &peer: the sender carried by items from this node

	// monMu makes deciding to send mon1 or mon0 and sending it one step,
	// so that they leave in the order decided.
	monMu sync.Mutex

	cur atomic.Pointer[conn] // st.cur, for the send path: no lock

	mu      sync.Mutex
	st      linkState
	next    int                    // the address to try next
	changed chan struct{}          // closed (and replaced) after every event
	dials   map[uint64]func()      // cancels of the dial loops, by generation
	timers  map[uint64]clock.Timer // the armed connect timers, by generation
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
		l = &link{
			n:      n,
			peer:   node,
			st:     newLinkState(node, n.cfg.Limits.SendQueue),
			dials:  make(map[uint64]func()),
			timers: make(map[uint64]clock.Timer),
		}
		l.src = &l.peer
		n.links[node] = l
	}
	if l != nil {
		n.lastLink.Store(l)
	}
	return l
}

// do runs an event on the state under mu, carries out the effects that
// belong under the lock, in order, and the others after unlocking, in
// order.
func (l *link) do(event func(s *linkState)) {
	l.mu.Lock()
	event(&l.st)
	fx := l.st.effects()
	after := fx[:0:0]
	for _, e := range fx {
		if e.op < opUnderLock {
			l.underLock(e)
		} else {
			after = append(after, e)
		}
	}
	l.cur.Store(l.st.cur)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	l.mu.Unlock()
	for _, e := range after {
		l.afterLock(e)
	}
	if g := l.n.global; g != nil && len(fx) > 0 {
		g.pump() // what the registry's up and down asked for
	}
}

// underLock carries out an effect with mu held.
func (l *link) underLock(e linkEffect) {
	n := l.n
	switch e.op {
	case opWrite:
		e.c.sendFrame(e.frame, false)
	case opRegistryUp:
		if g := n.global; g != nil {
			g.up(l.peer, e.c.id) // before c's reader starts: its frames come after
		}
	case opRegistryDown:
		if g := n.global; g != nil {
			g.down(l.peer, e.c.id)
		}
	case opStartDial:
		ctx, cancel := context.WithCancel(n.ctx)
		l.dials[e.gen] = cancel
		n.wg.Go(func() { l.dialLoop(ctx, e.gen) })
	case opArmTimer:
		l.timers[e.gen] = n.clk.AfterFunc(n.cfg.ConnectTimeout, func() {
			l.do(func(s *linkState) { s.timeout(e.gen) })
		})
	case opStopTimer:
		if t := l.timers[e.gen]; t != nil {
			t.Stop()
			delete(l.timers, e.gen)
		}
	}
}

// afterLock carries out an effect without mu.
func (l *link) afterLock(e linkEffect) {
	n := l.n
	switch e.op {
	case opStopDial:
		l.mu.Lock()
		cancel := l.dials[e.gen]
		delete(l.dials, e.gen)
		l.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case opStartConn:
		e.c.start()
	case opCloseConn:
		e.c.fail(fmt.Errorf("%s", e.text))
	case opFire:
		for _, m := range e.mons {
			m.fire(n, e.reason)
		}
	case opNodeUp:
		n.nodeEvent(l.peer, true, nil)
	case opNodeDown:
		n.nodeEvent(l.peer, false, e.reason)
	case opFailed:
		n.log.Info("link failed", "peer", l.peer, "reason", e.text)
	}
}

// The transport_error texts of a link that did not come up in time.
const (
	textConnectTimeout = "connect timeout"
	textNoAddress      = "no known address"
)

// send queues the frame [port, msg…] for the peer: on the connection in
// use, or until one comes up. mayWait: see conn.send. A frame that cannot
// travel (see Send) is refused with its error; a queued one is checked,
// and measured for the queue's limit, by encoding it once in msgpack.
func (l *link) send(port string, msg []any, mayWait bool) error {
	if c := l.cur.Load(); c != nil {
		return c.send(port, msg, mayWait)
	}
	norm, err := aemp.CopyList(msg) // a copy: msg's arguments stay the caller's
	if err != nil {
		return err
	}
	frame := append([]any{port}, norm...)
	size, err := frameSize(frame, l.n.frameLimits())
	if err != nil {
		return err
	}
	l.do(func(s *linkState) { s.send(frame, size) })
	return nil
}

// frameSize returns the bytes frame takes in msgpack, or the *FrameError
// of a frame beyond lim.
func frameSize(frame []any, lim aemp.Limits) (int, error) {
	bp := sizeBufs.Get().(*[]byte)
	defer sizeBufs.Put(bp)
	enc := aemp.Msgpack.NewEncoder(nil, lim)
	b, err := aemp.AppendMessage(enc, (*bp)[:0], frame[0].(string), frame[1:])
	if cap(b) <= 64<<10 {
		*bp = b
	}
	return len(b), err
}

var sizeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// dialLoop seeks a connection to the peer while the link's state wants one
// from this loop (generation gen): it resolves an address, dials it, and
// tries again 250 ms later.
func (l *link) dialLoop(ctx context.Context, gen uint64) {
	n := l.n
	for {
		l.mu.Lock()
		ok := l.st.dialing(gen)
		l.mu.Unlock()
		if !ok {
			return
		}
		a, err := l.Resolve(ctx)
		if err == nil {
			_, err = n.dialNode(ctx, a, l.peer, gen, nil)
		}
		if err == nil {
			return
		}
		n.log.Debug("dial failed", "peer", l.peer, "err", err)
		if clock.Sleep(ctx, n.clk, n.rand.Jitter(dialRetry, 0.2)) != nil {
			return
		}
	}
}

// dialRetry is the pause between a link's dial attempts.
const dialRetry = 250 * time.Millisecond

// errNoAddress: the registry knows no address of the peer.
var errNoAddress = errors.New(textNoAddress)

// Resolve returns the address to try next: the addresses AddNode gave, in
// turn, or else those the peer published in the registry, asked on every
// attempt (so a node that moved is found where it is now).
func (l *link) Resolve(ctx context.Context) (string, error) {
	l.mu.Lock()
	addrs := l.st.addrs
	l.mu.Unlock()
	if len(addrs) == 0 {
		found, ok, err := l.n.reg.Find(ctx, l.peer)
		if err != nil {
			return "", err
		}
		if !ok || len(found) == 0 {
			l.do(func(s *linkState) { s.noAddress() })
			return "", errNoAddress
		}
		addrs = found
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	return addrs[(l.next-1)%len(addrs)], nil
}

// dialNode connects to the node listening at a and makes the connection
// its link, unless the link is up already (by the peer's connection to
// this one, say). want, if not empty, is the node expected there; gen, if
// not 0, the dial loop that dials, which must still be wanted when the
// connection is committed. greeted, if not nil, is called with the link
// (its lock held) as soon as the greeting names the peer. It returns the
// link once it is up, and also with an error if the handshake failed after
// the greeting named the peer (nil before).
func (n *Node) dialNode(ctx context.Context, a, want string, gen uint64, greeted func(*linkState)) (*link, error) {
	nc, err := n.cfg.Transport.Dial(ctx, "tcp", a)
	if err != nil {
		return nil, err
	}
	var l *link
	token := n.connSeq.Add(1)
	al, err := aemp.Handshake(ctx, nc, n.handshakeConfig(
		func(g *aemp.Greeting) error {
			if want != "" && g.NodeID != want {
				return fmt.Errorf("%s is node %s, not %s", a, g.NodeID, want)
			}
			if l = n.linkTo(g.NodeID, true); l == nil {
				return errLinkClosed
			}
			var err error
			l.do(func(s *linkState) {
				if greeted != nil {
					greeted(s)
				}
				err = s.greeted()
			})
			return err
		},
		func(*aemp.Result) error {
			var err error
			l.do(func(s *linkState) {
				if gen != 0 && !s.dialing(gen) {
					err = errors.New("no longer wanted")
					return
				}
				err = s.commit(token)
			})
			return err
		}))
	if err != nil {
		if l != nil {
			l.do(func(s *linkState) { s.abandon(token) })
			if l.settle(ctx) {
				return l, nil // linked after all, by another connection
			}
		}
		return l, err
	}
	return l, l.take(al, token)
}

// take makes the authenticated connection al, whose handshake token was
// committed, the link's connection.
func (l *link) take(al *aemp.Link, token uint64) error {
	c := newConn(l, al, token)
	var ok bool
	l.do(func(s *linkState) { ok = s.attach(c, token) })
	if !ok {
		c.fail(errLinked)
		if !l.connected() {
			return errLinkClosed
		}
	}
	return nil
}

// settle waits while another handshake with the peer is committed, and
// reports whether the link is up then.
func (l *link) settle(ctx context.Context) bool {
	for {
		l.mu.Lock()
		if l.st.cur != nil || l.st.committed == 0 || l.st.closed {
			up := l.st.cur != nil
			l.mu.Unlock()
			return up
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

func (l *link) connected() bool { return l.current() != nil }

// current returns the connection in use, or nil (also for a nil link).
func (l *link) current() *conn {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.cur
}

// sendRemote sends a message to port name of node ("" for its node
// port). mayWait: see conn.send. It returns the error of a message that
// cannot travel (see Send), which then goes nowhere.
func (n *Node) sendRemote(node, name string, msg []any, mayWait bool) error {
	l := n.linkTo(node, true)
	if l == nil {
		return nil
	}
	return l.send(name, msg, mayWait)
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
	var first bool
	l.do(func(s *linkState) { first = s.monitor(name, m) })
	if first {
		l.send(aemp.NodePort, []any{aemp.ReqMon1, name}, false)
	}
	return Guard{stop: func() {
		if m.over.Swap(true) {
			return
		}
		l.monMu.Lock()
		defer l.monMu.Unlock()
		var last bool
		l.do(func(s *linkState) { last = s.demonitor(name, m) })
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
	l.do(func(s *linkState) { s.nodeMonitor(m) })
	return Guard{stop: func() {
		m.over.Store(true)
		l.do(func(s *linkState) { s.nodeDemonitor(m) })
	}}
}

// fireRemote fires the monitors set here on port name of l's peer: it
// died with reason (kil0).
func (l *link) fireRemote(name string, reason []any) {
	l.do(func(s *linkState) { s.killed(name, reason) })
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
			l, err := n.dialNode(ctx, a, "", 0, func(s *linkState) { s.learn(addrs) })
			if err == nil {
				return l.peer, nil
			}
			lastErr = err
			// A peer that hung up before authenticating may have been
			// setting up its own connection to us, which is on its way:
			// try again shortly, when the link may be up.
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

// RemoveNode forgets node's addresses and closes the link to it; its
// monitors fire with transport_error "removed".
func (n *Node) RemoveNode(node string) {
	if l := n.linkTo(node, false); l != nil {
		l.do(func(s *linkState) { s.forget() })
	}
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

// listen accepts connections on l until it is closed. Past
// Limits.Handshakes handshakes in flight, the oldest is abandoned.
func (n *Node) listen(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		if old := n.handshakes.add(nc); old != nil {
			old.Close()
			n.warnRated("handshakes", "incoming handshake abandoned: too many in flight",
				"from", old.RemoteAddr().String(), "limit", n.handshakes.limit)
		}
		n.wg.Go(func() {
			defer n.handshakes.done(nc)
			n.accept(nc)
		})
	}
}

// accept runs the handshake of an incoming connection and makes it the
// link to its node, if it may be.
func (n *Node) accept(nc net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()
	var l *link
	token := n.connSeq.Add(1)
	al, err := aemp.Handshake(ctx, nc, n.handshakeConfig(
		func(g *aemp.Greeting) error {
			// The greeting is not proven: look, but make nothing for it
			// (a stranger claiming ID after ID would fill the links).
			if l := n.linkTo(g.NodeID, false); l != nil {
				var err error
				l.do(func(s *linkState) { err = s.greeted() })
				return err
			}
			return nil
		},
		func(r *aemp.Result) error {
			if l = n.linkTo(r.PeerID, true); l == nil {
				return errLinkClosed
			}
			var err error
			l.do(func(s *linkState) { err = s.commit(token) })
			return err
		}))
	if err != nil {
		if l != nil {
			l.do(func(s *linkState) { s.abandon(token) })
		}
		n.logRefused(nc, err)
		return
	}
	l.take(al, token)
}

// logRefused logs an incoming handshake that failed: at DEBUG when it was
// refused as a second connection with a linked node (simultaneous
// connects), otherwise — a wrong secret, garbage, a handshake that timed
// out — at WARN with the remote address, at most once per 10 s per kind.
func (n *Node) logRefused(nc net.Conn, err error) {
	from := nc.RemoteAddr().String()
	var he *aemp.HandshakeError
	switch {
	case errors.Is(err, errLinked), errors.Is(err, errCommitted), errors.Is(err, errLinkClosed):
		n.log.Debug("incoming connection refused", "from", from, "err", err)
	case errors.As(err, &he):
		n.warnRated("handshake/"+he.Reason.Error(), "incoming handshake failed", "from", from, "err", err)
	default:
		n.warnRated("handshake", "incoming handshake failed", "from", from, "err", err)
	}
}

// closeLinks fails every link: the node is closing.
func (n *Node) closeLinks() {
	n.linksMu.Lock()
	links := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		links = append(links, l)
	}
	n.linksMu.Unlock()
	for _, l := range links {
		l.do(func(s *linkState) { s.close() })
	}
}
