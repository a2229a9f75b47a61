package sim

import (
	"cmp"
	"slices"
	"time"
)

// pair is the key of a pair of hosts, in either order.
func pair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// SetLatency sets the one-way delay between hosts a and b, both ways (a == b
// sets it within one host). It applies to segments sent from now on.
func (n *Network) SetLatency(a, b string, l Latency) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.latency[pair(a, b)] = l
	n.emit(Event{Kind: "latency", From: a, To: b, Text: l.String()})
}

// latencyOf is the delay between hosts a and b. n.mu is held.
func (n *Network) latencyOf(a, b string) Latency {
	if l, ok := n.latency[pair(a, b)]; ok {
		return l
	}
	return n.cfg.Latency
}

// SetNagle makes what host name writes to a connection wait up to d for
// more, as Nagle's algorithm does: bytes written within d of the first
// unsent one leave with it in one segment, d after it. Zero, the default,
// still puts the bytes written at one instant into one segment. It applies
// to bytes written from now on, on every incarnation of the host.
func (n *Network) SetNagle(name string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.machineLocked(name).nagle = max(d, 0)
}

// Partition cuts hosts a and b apart, both ways: see PartitionOneWay.
func (n *Network) Partition(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cutLocked(a, b)
	n.cutLocked(b, a)
}

// PartitionOneWay stops delivery from host from to host to. Every segment
// that would arrive in that direction while it is cut vanishes — data, FIN,
// RST — without any error: a reader just sees nothing. Lost data frees its
// window space, so writers are not blocked forever. A connection that lost a
// segment stays silent in that direction for good, even after Heal, like a
// TCP connection whose retransmissions never get through (its stream never
// has a hole). A lost SYN or SYN-ACK is retransmitted after 1 s, 2 s, 4 s …
// while the dial is pending, so a dial can outlast a short partition; after
// six retransmissions it fails with ETIMEDOUT. Segments already in flight
// are affected too if they arrive while the cut lasts.
func (n *Network) PartitionOneWay(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cutLocked(from, to)
}

func (n *Network) cutLocked(from, to string) {
	k := [2]string{from, to}
	if !n.cut[k] {
		n.cut[k] = true
		n.emit(Event{Kind: "partition", From: from, To: to})
	}
}

// Heal restores delivery between hosts a and b, both ways, for segments that
// arrive from now on.
func (n *Network) Heal(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.healLocked([2]string{a, b})
	n.healLocked([2]string{b, a})
}

// HealAll removes every partition.
func (n *Network) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	keys := make([][2]string, 0, len(n.cut))
	for k := range n.cut {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y [2]string) int {
		return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1]))
	})
	for _, k := range keys {
		n.healLocked(k)
	}
}

func (n *Network) healLocked(k [2]string) {
	if n.cut[k] {
		delete(n.cut, k)
		n.emit(Event{Kind: "heal", From: k[0], To: k[1]})
	}
}

// Reset breaks, at once, every connection between hosts a and b (in either
// direction; a == b means the connections within one host): unread and
// in-flight data is discarded, and blocked and later Reads and Writes at both
// ends fail with a *net.OpError wrapping syscall.ECONNRESET. A Dial still
// waiting for its SYN-ACK fails the same way. Connections made afterwards are
// not affected. What waits on the broken ends wakes one end at a time, each
// in a step of its own at this instant, in the order of the connections.
func (n *Network) Reset(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	want := pair(a, b)
	for _, c := range n.sortedConns() {
		if pair(c.addr[0].Host, c.addr[1].Host) != want || !c.live() {
			continue
		}
		n.emit(Event{Kind: "reset", Conn: c.id, From: c.addrs[0], To: c.addrs[1]})
		n.breakConn(c, errDialReset, false)
	}
}

// Crash crashes the running incarnation of host name, at once, as a
// process killed with everything it had open: every connection of it
// ends — each peer gets an RST, which travels like any segment (and is lost
// to a partition like any) — its listeners stop and reset the connections
// not yet accepted, its timers stop, and nothing of it runs any more: the
// goroutines blocked on its connections, listeners, dials and timers stay
// blocked, and a segment that reaches it is answered with an RST. They
// return only when the program closes what they wait on (Close on a crashed
// connection or listener sends nothing, and wakes its waiters with
// net.ErrClosed) or the network closes. Later Listens and Dials of the
// crashed Host fail with ErrCrashed.
//
// Network.Host(name) then returns a new incarnation: a restarted machine,
// with a fresh Rand, no listeners and the same clock skew, whose programs
// the test starts anew. Crash does nothing to a host that is not running.
func (n *Network) Crash(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.machines[name]
	if m == nil || m.cur == nil || m.cur.crashed || n.closing {
		return
	}
	h := m.cur
	h.crashed = true
	n.emit(Event{Kind: "crash", From: name, Text: "incarnation " + itoa(h.inc)})
	for _, port := range sortedKeys(h.listeners) {
		h.listeners[port].crashLocked()
	}
	for _, c := range n.sortedConns() {
		for _, e := range c.ep {
			if e != nil && e.h == h {
				n.crashEndpoint(e)
			}
		}
	}
	var timers []*item
	for _, it := range n.queue {
		if it.class == classTimer && it.t.clk.h == h {
			timers = append(timers, it)
		}
	}
	for _, it := range timers {
		n.queue.remove(it)
		it.t.state = timerSuspended
		h.suspended[it.t] = struct{}{}
	}
}

// live reports whether an end of c is still in use: not closed, reset or
// crashed. n.mu is held.
func (c *conn) live() bool {
	for _, e := range c.ep {
		if e != nil && !e.done() && !e.crashed {
			return true
		}
	}
	return false
}

// crashEndpoint ends e as its host crashes. n.mu is held.
func (n *Network) crashEndpoint(e *endpoint) {
	if e.closed && !e.dialing {
		return
	}
	e.crashed = true
	if !e.dialing && !e.rst {
		n.sendRST(e)
	}
}
