package sim

import (
	"cmp"
	"slices"
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
}

// latencyOf is the delay between hosts a and b. n.mu is held.
func (n *Network) latencyOf(a, b string) Latency {
	if l, ok := n.latency[pair(a, b)]; ok {
		return l
	}
	return n.cfg.Latency
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
		n.emit("partition", 0, from, to, 0)
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
		n.emit("heal", 0, k[0], k[1], 0)
	}
}

// Reset breaks, at once, every connection between hosts a and b (in either
// direction; a == b means the connections within one host): unread and
// in-flight data is discarded, and blocked and later Reads and Writes at both
// ends fail with a *net.OpError wrapping syscall.ECONNRESET. A Dial still
// waiting for its SYN-ACK fails the same way. Connections made afterwards are
// not affected.
func (n *Network) Reset(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	want := pair(a, b)
	for _, id := range sortedKeys(n.conns) {
		c := n.conns[id]
		if pair(c.addr[0].Host, c.addr[1].Host) != want {
			continue
		}
		n.emit("reset", c.id, c.addr[0].String(), c.addr[1].String(), 0)
		n.breakConn(c, errDialReset)
	}
}
