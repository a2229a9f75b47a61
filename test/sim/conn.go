package sim

import (
	"bytes"
	"io"
	"net"
	"os"
	"time"

	"github.com/tetherkit/tether/clock"
)

// conn is one connection: two endpoints and a direction of bytes each way.
// Side 0 is the dialer, side 1 the listener's end; direction d carries
// segments from side d to side 1-d.
type conn struct {
	n       *Network
	id      ConnID
	addr    [2]Addr
	addrs   [2]string    // addr's Strings, for events
	ep      [2]*endpoint // ep[1] is nil until the SYN reaches a listener
	half    [2]half
	pending int  // queued segments
	retries int  // handshake segments lost and sent again
	dead    bool // reset: queued segments are discarded
}

// half is one direction of a connection. All fields are guarded by n.mu.
type half struct {
	rnd      *clock.Rand   // latency draws of this direction
	seq      uint64        // last segment number
	last     time.Duration // due time of the last segment: never reorder
	inflight int           // data bytes queued, not yet delivered
	buf      bytes.Buffer  // delivered, not yet read
	eof      bool          // FIN delivered
	broken   bool          // a segment was lost: all later ones are too
	open     *item         // the data segment sent last, while it may take more (see sendAfter)
	openAt   time.Duration // when it was opened
}

func newConn(n *Network, id ConnID, from, to Addr) *conn {
	c := &conn{n: n, id: id, addr: [2]Addr{from, to}, addrs: [2]string{from.String(), to.String()}}
	for d := range c.half {
		c.half[d].rnd = n.internal.Derive("conn/" + id.String() + "/" + dirName[d])
	}
	return c
}

var dirName = [2]string{"c2s", "s2c"}

// forgetIfDone drops c from the network's table once nothing can happen to it
// any more. n.mu is held.
func (n *Network) forgetIfDone(c *conn) {
	if c.pending > 0 {
		return
	}
	for _, e := range c.ep {
		if e != nil && !e.done() {
			return
		}
	}
	delete(n.conns, c.id)
}

// breakConn resets both ends of c at once and discards its queued segments:
// blocked and later operations fail with ECONNRESET (a pending Dial with
// dialErr). The goroutines blocked on c wake at once if now is set, or
// else each in a step of its own at this instant. n.mu is held.
func (n *Network) breakConn(c *conn, dialErr error, now bool) {
	c.dead = true
	for d := range c.half {
		h := &c.half[d]
		h.inflight = 0
		h.buf.Reset()
	}
	for _, e := range c.ep {
		if e == nil {
			continue
		}
		if e.dialing {
			e.rst = true
			e.dialErr = dialErr
			e.dialing = false
			e.dialEnded = true
		} else if !e.closed {
			e.rst = true
		}
		if now {
			e.notify()
		} else {
			n.wakeLater(e)
		}
	}
	delete(n.conns, c.id)
}

// endpoint is one end of a connection; it implements net.Conn.
type endpoint struct {
	c     *conn
	side  int
	h     *Host // the incarnation it belongs to
	laddr Addr
	raddr Addr

	wlock chan struct{} // capacity 1: serializes Writes, like a socket

	// Guarded by n.mu.
	dialing   bool          // SYN sent, no answer yet
	dialDone  chan struct{} // closed when dialing ends, and the dialer is woken
	dialEnded bool          // dialing ended, dialDone not yet closed
	dialErr   error
	closed    bool // Close was called (or the dial given up)
	rst       bool // reset: operations fail with ECONNRESET
	rstSent   bool
	crashed   bool          // its host crashed: it is frozen until closed
	wakeQd    bool          // a wake item is queued for it
	rdl, wdl  time.Time     // deadlines on the host's clock, zero for none
	sig       chan struct{} // closed on any change, when someone waits
}

func newEndpoint(c *conn, side int, h *Host) *endpoint {
	return &endpoint{
		c:     c,
		side:  side,
		h:     h,
		laddr: c.addr[side],
		raddr: c.addr[1-side],
		wlock: make(chan struct{}, 1),
	}
}

// done reports whether nothing more can happen at e. A crashed endpoint
// is done only once closed: until then it must stay where Close finds it.
// n.mu is held.
func (e *endpoint) done() bool {
	return !e.dialing && !e.dialEnded && (e.closed || e.rst && !e.crashed)
}

// frozen reports whether e's host has crashed and nothing may wake what
// waits on e until Close (e's own, or the network's). n.mu is held.
func (e *endpoint) frozen() bool { return e.crashed && !e.closed && !e.c.n.closing }

// waitChan returns a channel that is closed at e's next change. n.mu is held.
func (e *endpoint) waitChan() <-chan struct{} {
	if e.sig == nil {
		e.sig = make(chan struct{})
	}
	return e.sig
}

// notify wakes every goroutine waiting on e, unless e is frozen: a change
// that e's own host makes, or that comes in the step of a segment to it.
// n.mu is held.
func (e *endpoint) notify() {
	if e == nil || e.frozen() {
		return
	}
	if e.sig != nil {
		e.c.n.release(e.sig)
		e.sig = nil
	}
	if e.dialEnded {
		e.dialEnded = false
		e.c.n.release(e.dialDone)
	}
}

// interrupt wakes every goroutine waiting on e, frozen or not: for what
// the program does to e itself (Close, SetDeadline), which a crashed
// program's teardown does too. n.mu is held.
func (e *endpoint) interrupt() {
	if e.sig != nil {
		e.c.n.release(e.sig)
		e.sig = nil
	}
}

// wakeLater wakes what waits on e in a step of its own at this instant, for
// a change made by another host (or by a fault): each step wakes one host,
// so that no two hosts race. n.mu is held.
func (n *Network) wakeLater(e *endpoint) {
	if e == nil || e.wakeQd || e.frozen() || (e.sig == nil && !e.dialEnded) {
		return
	}
	e.wakeQd = true
	n.push(&item{at: n.now(), class: classWake, c: e.c, dir: e.side, index: -1})
}

// finishDial ends the dial with err (nil: connected), and wakes the dialer
// at the end of the step. n.mu is held.
func (e *endpoint) finishDial(err error) {
	if !e.dialing {
		return
	}
	e.dialing = false
	e.dialErr = err
	e.dialEnded = true
	e.notify()
}

func (e *endpoint) opError(op string, err error) error {
	return opError(op, e.laddr, e.raddr, err)
}

// hostNow is the reading of e's host clock. n.mu is held.
func (e *endpoint) hostNow() time.Time { return e.c.n.start.Add(e.h.clk.readLocked()) }

// expired reports whether the deadline dl is set and has passed on e's host
// clock. n.mu is held.
func (e *endpoint) expired(dl time.Time) bool {
	return !dl.IsZero() && !e.hostNow().Before(dl)
}

// block waits until ch is closed or the deadline dl (zero: none) passes on
// e's host clock. dl is what it was when ch was taken, under n.mu.
func (e *endpoint) block(ch <-chan struct{}, dl time.Time) {
	if dl.IsZero() {
		<-ch
		return
	}
	t := e.h.clk.NewTimer(e.h.clk.Until(dl))
	defer t.Stop()
	select {
	case <-ch:
	case <-t.Chan():
	}
}

// Read reads what has arrived, up to len(p) bytes, waiting until something
// has. After the peer's Close has arrived and the data before it is read, it
// returns io.EOF.
func (e *endpoint) Read(p []byte) (int, error) {
	n := e.c.n
	in := &e.c.half[1-e.side]
	for {
		n.mu.Lock()
		switch {
		case e.closed:
			n.mu.Unlock()
			return 0, e.opError("read", net.ErrClosed)
		case e.frozen() && !e.expired(e.rdl):
			// Nothing of a crashed host runs: wait for Close, or a
			// deadline set in the past.
		case e.rst:
			n.mu.Unlock()
			return 0, e.opError("read", errReadReset)
		case e.expired(e.rdl):
			n.mu.Unlock()
			return 0, e.opError("read", os.ErrDeadlineExceeded)
		case in.buf.Len() > 0:
			k, _ := in.buf.Read(p)
			if k > 0 {
				n.wakeLater(e.c.ep[1-e.side]) // window space for the writer
			}
			n.mu.Unlock()
			return k, nil
		case in.eof:
			n.mu.Unlock()
			return 0, io.EOF
		case len(p) == 0:
			n.mu.Unlock()
			return 0, nil
		}
		ch, dl := e.waitChan(), e.rdl
		if e.frozen() {
			dl = time.Time{}
		}
		n.mu.Unlock()
		e.block(ch, dl)
	}
}

// writeErr is the error a Write meets now, or nil. n.mu is held.
func (e *endpoint) writeErr() error {
	switch {
	case e.closed:
		return e.opError("write", net.ErrClosed)
	case e.frozen() && !e.expired(e.wdl):
		return nil
	case e.rst:
		return e.opError("write", errWriteRst)
	case e.expired(e.wdl):
		return e.opError("write", os.ErrDeadlineExceeded)
	}
	return nil
}

// Write queues p for sending and returns once all of it is queued, waiting
// while the window is full; a p larger than the window goes in chunks. On an
// error it returns how many bytes were queued. Concurrent Writes do not
// interleave their bytes.
func (e *endpoint) Write(p []byte) (int, error) {
	n := e.c.n
	for acquired := false; !acquired; {
		n.mu.Lock()
		if err := e.writeErr(); err != nil {
			n.mu.Unlock()
			return 0, err
		}
		ch, dl := e.waitChan(), e.wdl
		n.mu.Unlock()
		acquired = e.acquire(ch, dl)
	}
	defer func() { <-e.wlock }()

	out := &e.c.half[e.side]
	written := 0
	for {
		n.mu.Lock()
		if err := e.writeErr(); err != nil {
			n.mu.Unlock()
			return written, err
		}
		if written == len(p) && !e.frozen() { // only for an empty p
			n.mu.Unlock()
			return 0, nil
		}
		if space := n.window - out.inflight - out.buf.Len(); space > 0 && !e.frozen() {
			k := min(space, len(p)-written)
			n.send(e.c, e.side, segData, bytes.Clone(p[written:written+k]))
			written += k
			n.mu.Unlock()
			if written == len(p) {
				return written, nil
			}
			continue
		}
		ch, dl := e.waitChan(), e.wdl
		if e.frozen() {
			dl = time.Time{}
		}
		n.mu.Unlock()
		e.block(ch, dl)
	}
}

// acquire takes e's write lock, unless ch is closed or the deadline dl
// passes first.
func (e *endpoint) acquire(ch <-chan struct{}, dl time.Time) bool {
	var timer <-chan time.Time
	if !dl.IsZero() {
		d := e.h.clk.Until(dl)
		if d <= 0 {
			return false
		}
		t := e.h.clk.NewTimer(d)
		defer t.Stop()
		timer = t.Chan()
	}
	select {
	case e.wlock <- struct{}{}:
		return true
	case <-ch:
		return false
	case <-timer:
		return false
	}
}

// Close closes the connection: blocked and later operations fail with an
// error wrapping net.ErrClosed, unread data is discarded, and a FIN follows
// the data already written, so the peer reads it and then io.EOF. Data that
// reaches a closed endpoint is answered with an RST. A second Close returns
// an error wrapping net.ErrClosed. Closing the connection of a crashed host
// sends nothing; it only releases what waits on it.
func (e *endpoint) Close() error {
	n := e.c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.closed {
		return e.opError("close", net.ErrClosed)
	}
	e.closed = true
	in := &e.c.half[1-e.side]
	if in.buf.Len() > 0 {
		in.buf.Reset()
		n.wakeLater(e.c.ep[1-e.side])
	}
	if !e.rst && !e.crashed && !e.c.dead && !n.closing {
		n.send(e.c, e.side, segFIN, nil)
	}
	e.interrupt()
	n.forgetIfDone(e.c)
	return nil
}

// LocalAddr returns this end's address, an Addr.
func (e *endpoint) LocalAddr() net.Addr { return e.laddr }

// RemoteAddr returns the peer's address, an Addr.
func (e *endpoint) RemoteAddr() net.Addr { return e.raddr }

// SetDeadline sets both deadlines; see SetReadDeadline.
func (e *endpoint) SetDeadline(t time.Time) error {
	return e.setDeadline(t, true, true)
}

// SetReadDeadline makes blocked and later Reads fail with an error wrapping
// os.ErrDeadlineExceeded (a net.Error with Timeout true) once the clock of
// the endpoint's host (Host.Clock) reaches t. The zero time clears it.
func (e *endpoint) SetReadDeadline(t time.Time) error {
	return e.setDeadline(t, true, false)
}

// SetWriteDeadline is SetReadDeadline for Writes. A Write that times out may
// have queued part of its bytes.
func (e *endpoint) SetWriteDeadline(t time.Time) error {
	return e.setDeadline(t, false, true)
}

func (e *endpoint) setDeadline(t time.Time, read, write bool) error {
	n := e.c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.closed {
		return e.opError("set", net.ErrClosed)
	}
	if read {
		e.rdl = t
	}
	if write {
		e.wdl = t
	}
	e.interrupt()
	return nil
}
