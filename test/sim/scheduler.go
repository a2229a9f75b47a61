package sim

import (
	"time"

	"github.com/tetherkit/tether/clock"
)

// segKind is the kind of a segment.
type segKind uint8

const (
	segSYN segKind = iota
	segSYNACK
	segData
	segFIN
	segRST
)

var segNames = [...]string{"syn", "synack", "data", "fin", "rst"}

func (k segKind) String() string { return segNames[k] }

// run is the scheduler: the only goroutine that delivers segments, fires
// timers and runs callbacks. It sleeps on the base clock until the earliest
// item is due (or the queue changes), lets the program settle with Quiesce,
// checks the invariants, then takes the single earliest item — a step — and
// repeats. While idle it is blocked on channels and a clock timer only, so
// a synctest bubble sees it as durably blocked.
func (n *Network) run() {
	var waiters []chan struct{}
	defer func() {
		n.flush()
		for _, w := range waiters {
			close(w)
		}
		close(n.done)
	}()
	// settled: the program has settled since anything last happened, and
	// the invariants hold. With invariants, the scheduler settles the
	// program right after each step, so that a check that fails names the
	// step that broke it; without, only before the next step.
	settled := false
	var t clock.Timer // the base clock's, for the next item; made once, reset
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		n.flush()
		n.mu.Lock()
		if n.closing {
			n.mu.Unlock()
			return
		}
		now := n.now()
		next := n.queue.peek()
		checking := len(n.checks) > 0
		if next != nil && next.at <= now {
			n.mu.Unlock()
			if !settled && !n.settle() {
				return
			}
			n.step()
			settled = false
			if checking {
				if !n.settle() {
					return
				}
				settled = true
			}
			continue
		}
		if len(waiters) > 0 {
			// Someone is in Wait and nothing is due: let the program
			// settle; if that made nothing due either, the network is quiet.
			n.mu.Unlock()
			if !settled && !n.settle() {
				return
			}
			settled = true
			n.mu.Lock()
			next = n.queue.peek()
			quiet := n.closing || next == nil || next.at > n.now()
			n.mu.Unlock()
			if quiet {
				n.flush()
				for _, w := range waiters {
					close(w)
				}
				waiters = nil
			}
			continue
		}
		var timer <-chan time.Time
		if next != nil {
			if t == nil {
				t = n.clock.NewTimer(next.at - now)
			} else {
				t.Reset(next.at - now)
			}
			timer = t.Chan()
		}
		n.mu.Unlock()
		select {
		case <-timer:
		case <-n.wake:
		case w := <-n.waitReq:
			waiters = append(waiters, w)
		case <-n.closed:
		}
		if timer != nil && !t.Stop() {
			select { // a clock whose timers keep a stale tick
			case <-timer:
			default:
			}
		}
		settled = false
	}
}

// settle lets the program settle and checks the invariants; it reports
// whether the simulation goes on.
func (n *Network) settle() bool {
	n.quiesce()
	return n.checkInvariants()
}

// quiesce lets every other goroutine of the program run until it blocks.
func (n *Network) quiesce() {
	if n.cfg.Quiesce != nil {
		n.cfg.Quiesce()
	}
}

// flush reports the recorded events to OnEvent, outside the lock, and keeps
// them for the step's trace if invariants are checked.
func (n *Network) flush() {
	n.mu.Lock()
	evs := n.events
	n.events = nil
	keep := len(n.checks) > 0
	n.mu.Unlock()
	if len(evs) == 0 {
		return
	}
	if keep {
		n.stepLog = append(n.stepLog, evs...)
	}
	if n.cfg.OnEvent == nil {
		return
	}
	n.inCallback.Store(true)
	defer n.inCallback.Store(false)
	for _, e := range evs {
		n.cfg.OnEvent(e)
	}
}

// step takes the earliest item off the queue and delivers it, fires it or
// runs it. The goroutines it wakes run only after OnEvent has seen its
// events.
func (n *Network) step() {
	n.mu.Lock()
	if n.closing || len(n.queue) == 0 {
		n.mu.Unlock()
		return
	}
	it := n.queue.pop()
	n.steps++
	n.stepping = true
	switch it.class {
	case classCallback:
		n.mu.Unlock()
		n.flush() // events recorded before the callback come first
		n.inCallback.Store(true)
		it.fn()
		n.inCallback.Store(false)
	case classTimer:
		it.t.fireLocked()
		n.mu.Unlock()
	case classSegment:
		n.deliver(it)
		it.c.pending--
		n.forgetIfDone(it.c)
		n.mu.Unlock()
	case classDatagram:
		n.deliverDatagram(it)
		n.mu.Unlock()
	case classWake:
		e := it.c.ep[it.dir]
		e.wakeQd = false
		e.notify()
		n.forgetIfDone(it.c)
		n.mu.Unlock()
	}
	n.flush()
	n.mu.Lock()
	n.stepping = false
	wakeups := n.wakeups
	n.wakeups = nil
	n.mu.Unlock()
	for _, ch := range wakeups {
		close(ch)
	}
}

// deliver applies segment it at its destination, in the step of the
// destination's host: what it changes there wakes at the end of the step;
// what it changes at the sender (window space) wakes in a step of the
// sender's. n.mu is held.
func (n *Network) deliver(it *item) {
	c := it.c
	if h := &c.half[it.dir]; h.open == it {
		h.open = nil
	}
	if c.dead {
		return // the connection was reset; its segments went with it
	}
	h := &c.half[it.dir]
	if it.kind == segData {
		h.inflight -= len(it.data)
	}
	src, dst := c.ep[it.dir], c.ep[1-it.dir]
	if h.broken || n.cut[[2]string{c.addr[it.dir].Host, c.addr[1-it.dir].Host}] {
		n.emitSeg("drop-"+it.kind.String(), it)
		n.lose(it)
		return
	}
	switch it.kind {
	case segSYN:
		n.onSYN(c)
	case segSYNACK:
		n.emitSeg("synack", it)
		if !dst.dialing || dst.crashed {
			// The dial was given up (or reset, or its host crashed)
			// meanwhile: reset the connection the listener made.
			n.sendRST(dst)
			return
		}
		dst.finishDial(nil)
	case segData:
		n.emitSeg("data", it)
		if dst.closed || dst.rst || dst.dialing || dst.crashed {
			// Discarded, so the window space is free again. A closed or
			// crashed end answers with an RST; a dialer still waiting for
			// its SYN-ACK (lost to a partition) ignores it, as TCP does in
			// SYN-SENT.
			n.wakeLater(src)
			if dst.closed || dst.crashed {
				n.sendRST(dst)
			}
			return
		}
		h.buf.Write(it.data)
		dst.notify()
	case segFIN:
		n.emitSeg("fin", it)
		if dst.dialing || dst.crashed {
			return
		}
		h.eof = true
		dst.notify()
	case segRST:
		n.emitSeg("rst", it)
		switch {
		case dst.crashed:
		case dst.dialing:
			dst.rst = true
			dst.finishDial(errRefused)
		case !dst.closed && !dst.rst:
			dst.rst = true
			h.buf.Reset() // unread data is lost
			n.wakeLater(src)
			dst.notify()
		}
	}
}

// lose handles segment it, which a partition swallowed. n.mu is held.
//
// A lost handshake segment is retransmitted, as TCP does, while the dial is
// pending: after 1 s, then 2 s, 4 s … and after the sixth retransmission is
// lost too the dial fails with ETIMEDOUT (about a minute, where Linux takes
// two). Anything else that is lost breaks that direction of the connection
// for good: what follows vanishes too, even after the partition heals, so a
// stream never has a hole in it. The connection behaves like a TCP
// connection whose retransmissions never get through; a protocol notices it
// the way it would notice that, by a timeout of its own.
func (n *Network) lose(it *item) {
	c := it.c
	switch it.kind {
	case segSYN, segSYNACK:
		dialer := c.ep[0]
		if dialer == nil || !dialer.dialing || dialer.crashed {
			return
		}
		if c.retries == maxSYNRetries {
			dialer.dialing = false
			dialer.dialErr = errTimedOut
			dialer.dialEnded = true
			n.wakeLater(dialer)
			return
		}
		rto := time.Second << c.retries
		c.retries++
		n.sendAfter(c, it.dir, it.kind, nil, rto)
	case segData:
		c.half[it.dir].broken = true
		n.wakeLater(c.ep[it.dir]) // the lost bytes no longer take window space
	default:
		c.half[it.dir].broken = true
	}
}

// maxSYNRetries is how many times a lost SYN or SYN-ACK is sent again.
const maxSYNRetries = 6

// onSYN handles a SYN at the listening side. n.mu is held.
func (n *Network) onSYN(c *conn) {
	to := c.addr[1]
	var l *listener
	if m := n.machines[to.Host]; m != nil && m.cur != nil && !m.cur.crashed {
		l = m.cur.listeners[to.Port]
	}
	if l == nil || len(l.backlog) >= n.backlog {
		n.emit(Event{Kind: "refuse", Conn: c.id, From: c.addrs[0], To: c.addrs[1]})
		n.send(c, 1, segRST, nil)
		return
	}
	e := newEndpoint(c, 1, l.h)
	c.ep[1] = e
	l.backlog = append(l.backlog, e)
	l.notify()
	n.emit(Event{Kind: "syn", Conn: c.id, From: c.addrs[0], To: c.addrs[1]})
	n.send(c, 1, segSYNACK, nil)
}

// send queues a segment in direction dir of c, due after a latency drawn from
// that direction's own random stream, and never before the previous segment
// of that direction. Data written within the sender's Nagle delay (zero: at
// the instant) of the first byte of the previous data segment joins that
// segment, while it is in flight: so how a program splits its writes within
// one instant — which may depend on how its goroutines were scheduled — does
// not change the segments, the latency draws, or the trace. n.mu is held.
func (n *Network) send(c *conn, dir int, kind segKind, data []byte) {
	n.sendAfter(c, dir, kind, data, 0)
}

// sendAfter is send, for a segment that leaves after delay. n.mu is held.
func (n *Network) sendAfter(c *conn, dir int, kind segKind, data []byte, delay time.Duration) {
	h := &c.half[dir]
	now := n.now()
	var nagle time.Duration
	if kind == segData {
		h.inflight += len(data)
		if m := n.machines[c.addr[dir].Host]; m != nil {
			nagle = m.nagle
		}
		if delay == 0 && h.open != nil && now <= h.openAt+nagle {
			h.open.data = append(h.open.data, data...)
			return
		}
		delay += nagle
	}
	at := now + delay + n.latencyOf(c.addr[0].Host, c.addr[1].Host).draw(h.rnd)
	at = max(at, h.last)
	h.last = at
	h.seq++
	it := &item{at: at, class: classSegment, seq: h.seq, c: c, dir: dir, kind: kind, data: data, index: -1}
	h.open = nil
	if kind == segData && delay == nagle {
		h.open, h.openAt = it, now
	}
	n.push(it)
}

// sendRST sends an RST from e to its peer, once. n.mu is held.
func (n *Network) sendRST(e *endpoint) {
	if e.rstSent || e.c.dead {
		return
	}
	e.rstSent = true
	n.send(e.c, e.side, segRST, nil)
}
