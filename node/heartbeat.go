package node

import (
	"fmt"
	"sync"
	"time"
)

// Heartbeats. Between tether nodes, each connection sends an empty frame
// every interval and fails after hearing nothing for the timeout (the
// time the reader waits for this node's own executors does not count:
// back-pressure is not death).
//
// A node beats all its connections of one interval together: one sweep
// per interval, on one goroutine, rather than a timer per connection.
// Beats spread over the interval each wake an idle process at both ends —
// a thread woken to send, a thread woken to read, in the kernel as much as
// in Go's scheduler — and that was most of what an idle mesh cost; sent
// together, one wake-up serves them all.
type heartbeats struct {
	mu     sync.Mutex
	sweeps map[time.Duration]*sweep
}

// sweep is the beat of the connections of one interval.
type sweep struct {
	added []*conn // since the last tick, for the sweep's goroutine to take
}

// beat makes c beat every interval, failing it after limit intervals
// without hearing anything.
func (n *Node) beat(c *conn, interval time.Duration, limit int) {
	c.hbLimit = limit
	c.heard.Store(true) // the first tick may come at once
	h := &n.beats
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sweeps[interval]
	if s == nil {
		if h.sweeps == nil {
			h.sweeps = make(map[time.Duration]*sweep)
		}
		s = &sweep{}
		h.sweeps[interval] = s
		n.wg.Go(func() { n.runSweep(s, interval) })
	}
	s.added = append(s.added, c)
}

// runSweep beats s's connections every interval, in the order they came,
// until the node closes or none is left.
func (n *Node) runSweep(s *sweep, interval time.Duration) {
	t := n.clk.NewTicker(interval)
	defer t.Stop()
	var conns []*conn
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.Chan():
		}
		n.beats.mu.Lock()
		conns = append(conns, s.added...)
		clear(s.added)
		s.added = s.added[:0]
		n.beats.mu.Unlock()
		live := conns[:0]
		for _, c := range conns {
			if c.beat(interval) {
				live = append(live, c)
			}
		}
		clear(conns[len(live):])
		conns = live
		if len(conns) == 0 {
			n.beats.mu.Lock()
			if len(s.added) == 0 {
				delete(n.beats.sweeps, interval)
				n.beats.mu.Unlock()
				return
			}
			n.beats.mu.Unlock()
		}
	}
}

// beat is one tick of c's heartbeat: it sends the empty frame, or fails
// c if it has heard nothing for limit ticks. It reports whether c is
// still open. Only the sweep's goroutine calls it.
func (c *conn) beat(interval time.Duration) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	if c.heard.Swap(false) || c.stalled.Load() {
		c.hbSilent = 0
	} else {
		c.hbSilent++
	}
	if c.hbSilent >= c.hbLimit {
		c.failHere(fmt.Errorf("heartbeat timeout: nothing heard for %v", time.Duration(c.hbLimit)*interval))
		return false
	}
	c.sendFrame([]any{}, false)
	return true
}
