package node

import (
	"runtime/debug"
	"sync"

	"github.com/tetherkit/tether/node/aemp"
)

// A shard is one executor goroutine and its queue. Every local port lives
// on one shard, which runs all of that port's callbacks, one at a time and
// in the order queued: messages from one sender to one port arrive in the
// order sent, and a port's callbacks never run concurrently. Like
// AnyEvent::MP's event loop, a shard expects callbacks to return promptly;
// one that blocks holds up the ports on its shard (processes, see Go, are
// for code that blocks).
type shard struct {
	n         *Node
	limit     int // messages queued before senders outside port context wait
	byteLimit int // bytes queued (estimated) before they wait

	mu      sync.Mutex
	q       []item
	queued  int           // messages in q
	bytes   int           // their estimated size
	busy    bool          // the executor is running a batch
	inline  bool          // a link's reader is running items of the shard itself (runNow)
	room    chan struct{} // closed when the queue drains, if someone waits
	wake    chan struct{} // capacity 1
	stopped bool

	ctx    Context        // reused for each delivery: valid only during a callback
	unpack *aemp.Unpacker // decodes the rests of frames links left encoded

	// The tag handler deliver found last, for the next message with the
	// same tag to the same port; setHandler forgets it.
	hPort *port
	hTag  string
	hCb   Callback
}

// item is work for a port: a message to deliver, or a function to run in
// its context (kills, monitors, init functions, Wrap).
type item struct {
	p        *port
	msg      []any
	rest     aemp.Rest      // if not empty, messages still encoded
	src      *string        // the sending node's ID, owned by its link; nil for this node
	fn       func(*Context) // nil: deliver msg
	evenDead bool           // run fn even if the port has died
}

// size estimates the memory an item holds while queued: a block of
// encoded messages is its length; a message, its slots and the strings and
// byte strings in it (nested values count by their slots only, which keeps
// the estimate cheap).
func (it *item) size() int {
	switch {
	case it.rest.Len() > 0:
		return it.rest.Len()
	case it.fn != nil:
		return 64
	}
	n := 64 + 16*len(it.msg)
	for _, v := range it.msg {
		switch x := v.(type) {
		case string:
			n += len(x)
		case []byte:
			n += len(x)
		}
	}
	return n
}

func newShard(n *Node, limit, byteLimit int) *shard {
	s := &shard{n: n, limit: limit, byteLimit: byteLimit, wake: make(chan struct{}, 1), unpack: aemp.NewUnpacker(n.frameLimits())}
	s.ctx.n = n
	return s
}

// push queues it. A sender outside port context (mayWait) waits while the
// queue is over its limits, in messages or in bytes, pushing back on a
// producer that outruns the ports (a link's reader stops reading, and TCP
// pushes back on the peer); in port context it never waits, since its own
// executor may be the one to drain the queue.
func (s *shard) push(it item, mayWait bool) { s.pushAll([]item{it}, 1, mayWait) }

// pushAll is push for a run of items holding msgs messages, in order,
// under one lock: a link's reader queues what one read brought this way.
func (s *shard) pushAll(its []item, msgs int, mayWait bool) {
	size := 0
	for i := range its {
		size += its[i].size()
	}
	s.mu.Lock()
	if !s.waitRoomLocked(mayWait) {
		s.mu.Unlock()
		return
	}
	wake := len(s.q) == 0 && !s.busy && !s.inline
	s.q = append(s.q, its...)
	s.queued += msgs
	s.bytes += size
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// waitRoomLocked waits, if mayWait, while the queue is over its limit, and
// reports whether the shard still runs. s.mu is held.
func (s *shard) waitRoomLocked(mayWait bool) bool {
	for mayWait && (s.queued >= s.limit || s.bytes >= s.byteLimit) && !s.stopped {
		if s.room == nil {
			s.room = make(chan struct{})
		}
		room := s.room
		s.mu.Unlock()
		<-room
		s.mu.Lock()
	}
	return !s.stopped
}

// idleItems is the most items an idle executor's queues keep room for:
// what a burst grew beyond it goes back to the heap.
const idleItems = 1024

// run is the executor: it takes the queue a batch at a time and runs it.
func (s *shard) run(done func()) {
	defer done()
	var batch []item
	for range s.wake {
		for {
			s.mu.Lock()
			if s.stopped {
				s.mu.Unlock()
				return
			}
			if s.inline {
				s.mu.Unlock() // a reader runs the shard: it wakes us after
				break
			}
			if len(s.q) == 0 {
				s.busy = false
				// Idle: give back what a burst grew.
				if cap(s.q) > idleItems {
					s.q = nil
				}
				if cap(batch) > idleItems {
					batch = nil
				}
				s.mu.Unlock()
				break
			}
			batch, s.q = s.q, batch[:0]
			s.queued, s.bytes = 0, 0
			s.busy = true
			if s.room != nil {
				close(s.room)
				s.room = nil
			}
			s.mu.Unlock()
			for i := 0; i < len(batch); {
				i = s.runFrom(batch, i)
			}
		}
	}
}

// runNow runs its, a run of items for this shard, on the calling
// goroutine — a link's reader — if the shard is idle (nothing queued,
// nothing running), and reports whether it did; if not, the caller pushes
// them. On an idle shard this saves waking the executor: the message that
// arrives is handled at once, on the goroutine that read it, in the same
// order and with the same exclusion as on the executor (busy and inline
// keep the two apart).
func (s *shard) runNow(its []item) bool {
	s.mu.Lock()
	if s.busy || s.inline || len(s.q) > 0 || s.stopped {
		s.mu.Unlock()
		return false
	}
	s.inline = true
	s.mu.Unlock()
	for i := 0; i < len(its); {
		i = s.runFrom(its, i)
	}
	s.mu.Lock()
	s.inline = false
	wake := len(s.q) > 0 && !s.busy
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// runFrom runs batch[i:], clearing each item after it, and returns where
// it stopped: at the end, or after an item whose callback panicked — which
// kills that item's port with "die", as an error would. (One recover for
// a run of items, not one per item: it is the executor's hot loop.)
func (s *shard) runFrom(batch []item, i int) (next int) {
	defer func() {
		if r := recover(); r != nil {
			err := &panicError{value: r, stack: debug.Stack()}
			it := &batch[next]
			s.ctx.p, s.ctx.src = nil, nil
			s.n.shardKill(it.p, []any{ReasonDie, err.Error()})
			batch[next] = item{}
			next++
		}
	}()
	for next = i; next < len(batch); next++ {
		s.run1(&batch[next])
		batch[next] = item{}
	}
	return next
}

// run1 runs one item in its port's context; runFrom recovers its panics.
func (s *shard) run1(it *item) {
	p := it.p
	if p.dead && !it.evenDead {
		return // messages and work for a dead port vanish
	}
	c := &s.ctx
	c.p, c.src = p, it.src
	switch {
	case it.fn != nil:
		it.fn(c)
	case it.rest.Len() > 0:
		// One message after another, until the rest is used up or one of
		// them kills the port.
		for it.rest.Len() > 0 && !p.dead {
			msg, err := s.unpack.Unpack(&it.rest)
			if err != nil { // cannot happen: the link's reader checked it
				s.n.log.Error("undecodable message", "port", p.id, "err", err)
				break
			}
			s.n.deliver(c, msg)
		}
	default:
		s.n.deliver(c, it.msg)
	}
	c.p, c.src = nil, nil
}

// stop ends the executor; queued items are dropped.
func (s *shard) stop() {
	s.mu.Lock()
	s.stopped = true
	s.q, s.queued, s.bytes = nil, 0, 0
	if s.room != nil {
		close(s.room)
		s.room = nil
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// shardOf picks the shard for a new port: round robin.
func (n *Node) shardOf() *shard {
	i := n.nextShard.Add(1)
	return n.shards[int(i)%len(n.shards)]
}
