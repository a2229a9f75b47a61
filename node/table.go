package node

import "sync"

// portTable maps local port names to ports. It is split into parts, each
// with its own lock, so that senders on different cores rarely meet; a part
// is a plain map, so an entry costs about 30 bytes (a sync.Map entry costs
// three times that, and hashes its key as an interface).
type portTable struct {
	parts [64]tablePart
}

type tablePart struct {
	mu sync.RWMutex
	m  map[string]*port
	hw int           // the most entries m has held since it was made
	_  [64 - 40]byte // keep parts on separate cache lines
}

// A map never gives back the memory of deleted entries: a part whose map
// has shrunk to an eighth of its high-water mark (of at least
// shrinkFrom entries) is copied into a new one. The copy costs at most an
// eighth of the deletions that led to it.
const shrinkFrom = 1024

// part picks a name's part from its last bytes, where counters change
// fastest: cheap, and spread well for the names this package makes.
func (t *portTable) part(name string) *tablePart {
	n := len(name)
	if n == 0 {
		return &t.parts[0]
	}
	h := uint(name[n-1]) + 7*uint(name[n/2])
	if n > 1 {
		h += 31 * uint(name[n-2])
	}
	return &t.parts[h%uint(len(t.parts))]
}

func (t *portTable) load(name string) *port {
	p := t.part(name)
	p.mu.RLock()
	v := p.m[name]
	p.mu.RUnlock()
	return v
}

func (t *portTable) store(name string, v *port) {
	p := t.part(name)
	p.mu.Lock()
	if p.m == nil {
		p.m = make(map[string]*port)
	}
	p.m[name] = v
	p.hw = max(p.hw, len(p.m))
	p.mu.Unlock()
}

// delete removes v, if it is still the port called name.
func (t *portTable) delete(name string, v *port) {
	p := t.part(name)
	p.mu.Lock()
	if p.m[name] == v {
		delete(p.m, name)
		if p.hw >= shrinkFrom && len(p.m) <= p.hw/8 {
			m := make(map[string]*port, len(p.m))
			for k, x := range p.m {
				m[k] = x
			}
			p.m, p.hw = m, len(m)
		}
	}
	p.mu.Unlock()
}

// each calls fn for every port, part by part (ports created or deleted
// meanwhile may or may not be seen).
func (t *portTable) each(fn func(*port)) {
	for i := range t.parts {
		p := &t.parts[i]
		p.mu.RLock()
		ports := make([]*port, 0, len(p.m))
		for _, v := range p.m {
			ports = append(ports, v)
		}
		p.mu.RUnlock()
		for _, v := range ports {
			fn(v)
		}
	}
}

// all returns every port in the table.
func (t *portTable) all() []*port {
	var out []*port
	for i := range t.parts {
		p := &t.parts[i]
		p.mu.RLock()
		for _, v := range p.m {
			out = append(out, v)
		}
		p.mu.RUnlock()
	}
	return out
}
