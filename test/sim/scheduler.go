package sim

import (
	"container/heap"
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

// item is a queued segment or an After callback.
//
// Items are ordered by a canonical key that never depends on how goroutines
// interleave: due time, then callbacks before segments, then callbacks by
// After order and segments by (connection, direction, sequence number within
// that direction).
type item struct {
	at  time.Duration
	seq uint64 // After order, or sequence number within the direction

	// A callback.
	fn func()

	// A segment.
	c    *conn
	dir  int // 0: dialer → listener, 1: back
	kind segKind
	data []byte
}

func (a *item) less(b *item) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if (a.c == nil) != (b.c == nil) {
		return a.c == nil
	}
	if a.c != nil {
		if a.c.id != b.c.id {
			return a.c.id < b.c.id
		}
		if a.dir != b.dir {
			return a.dir < b.dir
		}
	}
	return a.seq < b.seq
}

// queue is a min-heap of items.
type queue []*item

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].less(q[j]) }
func (q queue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)        { *q = append(*q, x.(*item)) }
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}

func (q *queue) push(it *item) { heap.Push(q, it) }
func (q *queue) pop() *item    { return heap.Pop(q).(*item) }
func (q queue) peek() *item {
	if len(q) == 0 {
		return nil
	}
	return q[0]
}

// run is the scheduler: the only goroutine that delivers segments and runs
// callbacks. It sleeps on the clock until the earliest item is due (or the
// queue changes), lets the program settle with Quiesce, then delivers the
// single earliest item, and repeats. While idle it is blocked on channels and
// a clock timer only, so a synctest bubble sees it as durably blocked.
func (n *Network) run() {
	var waiters []chan struct{}
	defer func() {
		n.flush()
		for _, w := range waiters {
			close(w)
		}
		close(n.done)
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
		if next != nil && next.at <= now {
			n.mu.Unlock()
			n.quiesce()
			n.step()
			continue
		}
		if len(waiters) > 0 {
			// Someone is in Wait and nothing is due: let the program
			// settle; if that made nothing due either, the network is quiet.
			n.mu.Unlock()
			n.quiesce()
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
		var t clock.Timer
		var timer <-chan time.Time
		if next != nil {
			t = n.clock.NewTimer(next.at - now)
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
		if t != nil {
			t.Stop()
		}
	}
}

// quiesce lets every other goroutine of the program run until it blocks.
func (n *Network) quiesce() {
	if n.cfg.Quiesce != nil {
		n.cfg.Quiesce()
	}
}

// flush reports the recorded events to OnEvent, outside the lock.
func (n *Network) flush() {
	if n.cfg.OnEvent == nil {
		return
	}
	n.mu.Lock()
	evs := n.events
	n.events = nil
	n.mu.Unlock()
	if len(evs) == 0 {
		return
	}
	n.inCallback.Store(true)
	defer n.inCallback.Store(false)
	for _, e := range evs {
		n.cfg.OnEvent(e)
	}
}

// step takes the earliest item off the queue and delivers it or runs it.
// The goroutines it wakes run only after OnEvent has seen its events.
func (n *Network) step() {
	n.mu.Lock()
	if n.closing || len(n.queue) == 0 {
		n.mu.Unlock()
		return
	}
	it := n.queue.pop()
	n.stepping = true
	if it.fn != nil {
		n.mu.Unlock()
		n.flush() // events recorded before the callback come first
		n.inCallback.Store(true)
		it.fn()
		n.inCallback.Store(false)
	} else {
		n.deliver(it)
		it.c.pending--
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

// deliver applies segment it at its destination. n.mu is held.
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
		if !dst.dialing {
			// The dial was given up (or reset) meanwhile: reset the
			// connection the listener made.
			n.sendRST(dst)
			return
		}
		dst.finishDial(nil)
	case segData:
		n.emitSeg("data", it)
		if dst.closed || dst.rst || dst.dialing {
			// Discarded, so the window space is free again. A closed end
			// answers with an RST; a dialer still waiting for its SYN-ACK
			// (lost to a partition) ignores it, as TCP does in SYN-SENT.
			src.notify()
			if dst.closed {
				n.sendRST(dst)
			}
			return
		}
		h.buf.Write(it.data)
		dst.notify()
	case segFIN:
		n.emitSeg("fin", it)
		if dst.dialing {
			return
		}
		h.eof = true
		dst.notify()
	case segRST:
		n.emitSeg("rst", it)
		switch {
		case dst.dialing:
			dst.rst = true
			dst.finishDial(errRefused)
		case !dst.closed && !dst.rst:
			dst.rst = true
			h.buf.Reset() // unread data is lost
			src.notify()
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
		if dialer == nil || !dialer.dialing {
			return
		}
		if c.retries == maxSYNRetries {
			dialer.finishDial(errTimedOut)
			return
		}
		rto := time.Second << c.retries
		c.retries++
		n.sendAfter(c, it.dir, it.kind, nil, rto)
	case segData:
		c.half[it.dir].broken = true
		c.ep[it.dir].notify() // the lost bytes no longer take window space
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
	if h := n.hosts[to.Host]; h != nil {
		l = h.listeners[to.Port]
	}
	if l == nil || len(l.backlog) >= n.backlog {
		n.emit("refuse", c.id, c.addr[0].String(), to.String(), 0)
		n.send(c, 1, segRST, nil)
		return
	}
	e := newEndpoint(c, 1)
	c.ep[1] = e
	l.backlog = append(l.backlog, e)
	l.notify()
	n.emit("syn", c.id, c.addr[0].String(), to.String(), 0)
	n.send(c, 1, segSYNACK, nil)
}

// send queues a segment in direction dir of c, due after a latency drawn from
// that direction's own random stream, and never before the previous segment
// of that direction. Data written at the instant the previous data segment
// was sent joins that segment, while it is in flight (as Nagle's algorithm
// would have it): so how a program splits its writes within one instant —
// which may depend on how its goroutines were scheduled — does not change
// the segments, the latency draws, or the trace. n.mu is held.
func (n *Network) send(c *conn, dir int, kind segKind, data []byte) {
	n.sendAfter(c, dir, kind, data, 0)
}

// sendAfter is send, for a segment that leaves after delay. n.mu is held.
func (n *Network) sendAfter(c *conn, dir int, kind segKind, data []byte, delay time.Duration) {
	h := &c.half[dir]
	now := n.now()
	if kind == segData {
		h.inflight += len(data)
		if delay == 0 && h.open != nil && h.openAt == now {
			h.open.data = append(h.open.data, data...)
			return
		}
	}
	at := now + delay + n.latencyOf(c.addr[0].Host, c.addr[1].Host).draw(h.rnd)
	at = max(at, h.last)
	h.last = at
	h.seq++
	it := &item{at: at, seq: h.seq, c: c, dir: dir, kind: kind, data: data}
	h.open = nil
	if kind == segData && delay == 0 {
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
