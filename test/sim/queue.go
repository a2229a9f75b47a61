package sim

import (
	"cmp"
	"container/heap"
	"time"
)

// class is what kind of work an item is. At one instant the classes go in
// this order.
type class uint8

const (
	classCallback class = iota // an After callback
	classTimer                 // a timer of a host's clock (or the network's)
	classSegment               // a segment arriving
	classDatagram              // a datagram arriving
	classWake                  // a wakeup of an endpoint, moved out of another host's step
)

// item is one piece of work for the scheduler: a callback, a timer, a
// segment or a wakeup.
//
// Items are ordered by a canonical key that never depends on how goroutines
// interleave: due time, class, then within the class
//
//   - callbacks by the order After was called;
//   - timers by host name ("" for the network's clock) and the order they
//     were set on that host;
//   - segments by connection (dialling host, dial number on that host),
//     direction, and sequence number within the direction;
//   - datagrams by socket (host, socket number on that host) and order
//     sent;
//   - wakeups by connection and side.
type item struct {
	at    time.Duration
	class class
	seq   uint64 // After order, timer order on its host, or segment order in its direction
	host  string // timers: the host's name
	index int    // position in the queue; -1 when not queued

	fn func() // callback
	t  *timer // timer

	// A segment, or a wakeup (of side dir of c).
	c    *conn
	dir  int // 0: dialer → listener, 1: back
	kind segKind
	data []byte // a segment's or a datagram's

	// A datagram, from socket p.
	p  *packetConn
	to Addr
}

func (a *item) compare(b *item) int {
	if c := cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.class, b.class)); c != 0 {
		return c
	}
	switch a.class {
	case classTimer:
		return cmp.Or(cmp.Compare(a.host, b.host), cmp.Compare(a.seq, b.seq))
	case classSegment, classWake:
		return cmp.Or(a.c.id.compare(b.c.id), cmp.Compare(a.dir, b.dir), cmp.Compare(a.seq, b.seq))
	case classDatagram:
		return cmp.Or(a.p.id.compare(b.p.id), cmp.Compare(a.seq, b.seq))
	}
	return cmp.Compare(a.seq, b.seq)
}

// queue is a min-heap of items that knows where each item is, so that a
// stopped timer leaves it at once.
type queue []*item

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].compare(q[j]) < 0 }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *queue) Push(x any) {
	it := x.(*item)
	it.index = len(*q)
	*q = append(*q, it)
}
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	it.index = -1
	return it
}

func (q *queue) push(it *item) { heap.Push(q, it) }
func (q *queue) pop() *item    { return heap.Pop(q).(*item) }

// remove takes it off the queue if it is there.
func (q *queue) remove(it *item) {
	if it.index >= 0 && it.index < len(*q) && (*q)[it.index] == it {
		heap.Remove(q, it.index)
	}
}

// init restores the order after the due times of items changed.
func (q *queue) init() { heap.Init(q) }

func (q queue) peek() *item {
	if len(q) == 0 {
		return nil
	}
	return q[0]
}
