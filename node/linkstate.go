package node

import (
	"errors"
	"maps"
	"slices"
)

// linkState is what a node knows of its relation with one peer, as a pure
// state machine: the connection in use, the frames waiting for one, the
// monitors on the peer and its ports, whether a connection is being sought
// (a dial loop, a connect timeout) and which handshake may become the
// connection. Events (the methods) change it and append the effects to
// carry out, in order, to fx; it has no lock, goroutine, clock or I/O.
// link (link.go) is its driver: it runs the events under its mutex and
// carries out the effects, those marked under the lock at once, the others
// after unlocking.
//
// The invariants: a link has at most one connection in use (cur); frames
// queued while there is none go out on the next one before anything sent
// after it; when the connection in use is lost, or none comes up in time
// while something waits, every monitor fires with transport_error before
// anything more is sent ("no silent holes"); at most one handshake at a
// time is committed to becoming the connection, and only one whose peer
// has authenticated (see commit); a dial loop or a timer that is no longer
// the link's own (its generation is stale) can change nothing.
type linkState struct {
	peer  string
	limit int // bytes queued before the link fails

	addrs     []string // known addresses (AddNode); none: ask the registry
	cur       *conn    // the connection in use
	committed uint64   // the handshake that may become cur (its token); 0: none
	queue     [][]any  // frames waiting for a connection
	queued    int      // their size in bytes
	mons      map[string][]*monitor
	nodeMons  []*monitor
	dialer    uint64 // the dial loop's generation; 0: none runs
	timer     uint64 // the connect timer's generation; 0: none is armed
	gen       uint64 // the last generation given out
	noAddr    bool   // the registry knew no address, since the timer was armed
	closed    bool   // the node is closing

	fx []linkEffect
}

// linkEffect is one thing for the driver to do.
type linkEffect struct {
	op     linkOp
	c      *conn
	frame  []any
	mons   []*monitor
	reason []any
	gen    uint64
	text   string
}

type linkOp uint8

const (
	// Under the link's lock, so that they happen in the order of the
	// events:
	opWrite        linkOp = iota // write frame on c
	opRegistryUp                 // tell the registry c is up
	opRegistryDown               // tell the registry c is down
	opStartDial                  // start a dial loop of generation gen
	opArmTimer                   // arm the connect timer of generation gen
	opStopTimer                  // stop the connect timer
	opUnderLock                  // (the boundary)

	// After unlocking:
	opStopDial  // cancel the dial loop of generation gen
	opStartConn // start c's reader and heartbeats
	opCloseConn // close c, with text
	opFire      // fire mons with reason
	opNodeUp    // tell the node monitors the peer is up
	opNodeDown  // … down, with reason
	opFailed    // log the link's failure, text
)

func newLinkState(peer string, limit int) linkState {
	return linkState{peer: peer, limit: limit, mons: make(map[string][]*monitor)}
}

func (s *linkState) emit(e linkEffect) { s.fx = append(s.fx, e) }

// effects returns the effects so far and forgets them.
func (s *linkState) effects() []linkEffect {
	fx := s.fx
	s.fx = nil
	return fx
}

// send queues frame (size bytes) for the peer: on the connection in use,
// or until one comes up — a connection is then sought. Past the limit the
// link fails ("send queue full"). A closed link drops it.
func (s *linkState) send(frame []any, size int) {
	switch {
	case s.closed:
		return
	case s.cur != nil:
		s.emit(linkEffect{op: opWrite, c: s.cur, frame: frame})
		return
	}
	s.queue = append(s.queue, frame)
	s.queued += size
	if s.queued > s.limit {
		s.fail(nil, "send queue full")
		return
	}
	s.want()
}

// want makes sure a connection is sought: a dial loop, and the connect
// timer.
func (s *linkState) want() {
	if s.cur != nil || s.closed {
		return
	}
	if s.timer == 0 {
		s.gen++
		s.timer = s.gen
		s.noAddr = false
		s.emit(linkEffect{op: opArmTimer, gen: s.timer})
	}
	if s.dialer == 0 {
		s.gen++
		s.dialer = s.gen
		s.emit(linkEffect{op: opStartDial, gen: s.dialer})
	}
}

func (s *linkState) stopDial() {
	if s.dialer != 0 {
		s.emit(linkEffect{op: opStopDial, gen: s.dialer})
		s.dialer = 0
	}
}

func (s *linkState) stopTimer() {
	if s.timer != 0 {
		s.emit(linkEffect{op: opStopTimer, gen: s.timer})
		s.timer = 0
	}
}

// dialing reports whether the dial loop of generation gen should go on.
func (s *linkState) dialing(gen uint64) bool {
	return gen != 0 && s.dialer == gen && s.cur == nil && !s.closed
}

// noAddress notes that the registry knew no address of the peer.
func (s *linkState) noAddress() { s.noAddr = true }

// timeout is the connect timer of generation gen: nothing came up in
// time, so the link fails.
func (s *linkState) timeout(gen uint64) {
	if gen != s.timer || s.cur != nil {
		return
	}
	s.timer = 0
	text := textConnectTimeout
	if s.noAddr {
		text = textNoAddress
	}
	s.fail(nil, text)
}

// The errors with which the link refuses a handshake.
var (
	errLinked     = errors.New("already connected, not connecting again")
	errCommitted  = errors.New("another connection with the node is being set up")
	errLinkClosed = errors.New("node closing")
)

// greeted checks a handshake whose greeting names the peer: refused at
// once if a connection is in use (an early, cheap refusal: the greeting is
// not proven, but nothing changes for it).
func (s *linkState) greeted() error {
	switch {
	case s.closed:
		return errLinkClosed
	case s.cur != nil:
		return errLinked
	}
	return nil
}

// commit decides whether the handshake token, whose peer has
// authenticated, may become the connection: only if there is none in use
// and no other handshake is committed. With the handshake's TieBreak, the
// node with the smaller ID commits before its auth line leaves, so the
// peer takes exactly the connection it committed; the larger one commits
// after, and refuses only what it cannot take.
func (s *linkState) commit(token uint64) error {
	switch {
	case s.closed:
		return errLinkClosed
	case s.cur != nil:
		return errLinked
	case s.committed != 0 && s.committed != token:
		return errCommitted
	}
	s.committed = token
	return nil
}

// abandon forgets the commitment of a handshake that failed after it.
func (s *linkState) abandon(token uint64) {
	if s.committed == token {
		s.committed = 0
	}
}

// attach makes c, whose handshake (token) was committed, the connection in
// use: the queue goes out on it first, seeking stops, the registry and
// the node monitors learn the peer is up. It reports whether c was taken.
func (s *linkState) attach(c *conn, token uint64) bool {
	if s.closed || s.cur != nil || s.committed != token {
		return false
	}
	s.committed = 0
	for _, f := range s.queue {
		s.emit(linkEffect{op: opWrite, c: c, frame: f})
	}
	s.queue, s.queued = nil, 0
	s.cur = c
	s.stopTimer()
	s.stopDial()
	s.emit(linkEffect{op: opRegistryUp, c: c})
	s.emit(linkEffect{op: opStartConn, c: c})
	s.emit(linkEffect{op: opNodeUp})
	return true
}

// died is the end of connection c, with text: if it was the one in use,
// the link fails.
func (s *linkState) died(c *conn, text string) {
	if c == nil || c != s.cur {
		return
	}
	s.cur = nil
	s.fail(c, text)
}

// failCurrent fails the link in whatever state it is.
func (s *linkState) failCurrent(text string) {
	c := s.cur
	s.cur = nil
	s.fail(c, text)
}

// fail ends the link's current state: the queue is dropped, every monitor
// on the peer and its ports fires with transport_error and text (the
// ports' in the order of their names), seeking stops, and c, the
// connection in use if there was one, is closed.
func (s *linkState) fail(c *conn, text string) {
	s.queue, s.queued = nil, 0
	mons, nodeMons := s.mons, s.nodeMons
	s.mons, s.nodeMons = make(map[string][]*monitor), nil
	s.stopTimer()
	s.stopDial()
	if c != nil {
		s.emit(linkEffect{op: opRegistryDown, c: c})
		s.emit(linkEffect{op: opCloseConn, c: c, text: text})
	}
	reason := []any{ReasonTransport, s.peer, text}
	var fire []*monitor
	for _, name := range slices.Sorted(maps.Keys(mons)) {
		fire = append(fire, mons[name]...)
	}
	fire = append(fire, nodeMons...)
	if len(fire) > 0 {
		s.emit(linkEffect{op: opFire, mons: fire, reason: reason})
	}
	if c != nil {
		s.emit(linkEffect{op: opNodeDown, reason: reason})
	}
	s.emit(linkEffect{op: opFailed, text: text})
}

// close is the node closing: the link fails with "node closed" and stays
// closed.
func (s *linkState) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.failCurrent("node closed")
}

// monitor adds m, a monitor on the peer's port name, and reports whether
// it is the first (the peer must then be asked: mon1).
func (s *linkState) monitor(name string, m *monitor) bool {
	first := len(s.mons[name]) == 0
	s.mons[name] = append(s.mons[name], m)
	return first
}

// demonitor removes m and reports whether it was the last (mon0).
func (s *linkState) demonitor(name string, m *monitor) bool {
	ms := s.mons[name]
	i := slices.Index(ms, m)
	if i < 0 {
		return false
	}
	if ms = slices.Delete(ms, i, i+1); len(ms) == 0 {
		delete(s.mons, name)
		return true
	}
	s.mons[name] = ms
	return false
}

// nodeMonitor adds m, a monitor on the peer itself, and seeks a
// connection.
func (s *linkState) nodeMonitor(m *monitor) {
	s.nodeMons = append(s.nodeMons, m)
	s.want()
}

func (s *linkState) nodeDemonitor(m *monitor) {
	if i := slices.Index(s.nodeMons, m); i >= 0 {
		s.nodeMons = slices.Delete(s.nodeMons, i, i+1)
	}
}

// killed is kil0 from the peer: its port name died with reason, and the
// monitors on it fire.
func (s *linkState) killed(name string, reason []any) {
	if ms := s.mons[name]; len(ms) > 0 {
		delete(s.mons, name)
		s.emit(linkEffect{op: opFire, mons: ms, reason: reason})
	}
}

// learn adds addresses the peer listens on.
func (s *linkState) learn(addrs []string) {
	for _, a := range addrs {
		if !slices.Contains(s.addrs, a) {
			s.addrs = append(s.addrs, a)
		}
	}
}

// forget forgets the peer's addresses and fails the link, "removed".
func (s *linkState) forget() {
	s.addrs = nil
	s.failCurrent("removed")
}
