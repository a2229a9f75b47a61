package node

import "sync/atomic"

// sendCache remembers the ports that recent local sends resolved, so that
// a program sending to the same ports again skips parsing the ID and the
// table lookup. It is safe to keep a port that has died: names are never
// reused, and messages to a dead port vanish exactly as messages to a
// missing one do.
type sendCache struct {
	slots [64]atomic.Pointer[cached]
}

type cached struct {
	id string
	p  *port
}

func (sc *sendCache) slot(id string) *atomic.Pointer[cached] {
	n := len(id)
	h := uint(n)
	if n > 1 {
		h += 31*uint(id[n-1]) + 7*uint(id[n-2])
	}
	return &sc.slots[h%uint(len(sc.slots))]
}

// get returns the port id resolved to, if the cache holds it.
func (sc *sendCache) get(id string) *port {
	if c := sc.slot(id).Load(); c != nil && c.id == id {
		return c.p
	}
	return nil
}

func (sc *sendCache) put(id string, p *port) {
	sc.slot(id).Store(&cached{id: id, p: p})
}
