package node

import "sync"

// graveSize is how many of the latest deaths a node remembers.
const graveSize = 256

// A graveyard remembers the ports that died (or were killed and are still
// dying) most recently, so that a monitor set after a death sees its
// reason, every time: a mon1 right behind a kil1 on the wire, or a Monitor
// right after a Spawn whose init function is missing, would otherwise get
// the reason or "no_such_port" depending on whether the port's executor
// had got round to the death yet. A monitor set on a dead port the node no
// longer remembers fires with "no_such_port".
//
// A buried port holds only its ID, its shard and its death reason: its
// handlers are dropped when it dies.
type graveyard struct {
	mu     sync.Mutex
	ring   [graveSize]grave
	next   int
	byName map[string]*port
}

type grave struct {
	name string
	p    *port
}

// bury remembers p, which has left the port table, under name.
func (g *graveyard) bury(name string, p *port) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.byName[name] == p {
		return
	}
	if g.byName == nil {
		g.byName = make(map[string]*port, graveSize)
	}
	if old := g.ring[g.next]; old.p != nil && g.byName[old.name] == old.p {
		delete(g.byName, old.name)
	}
	g.ring[g.next] = grave{name, p}
	g.next = (g.next + 1) % graveSize
	g.byName[name] = p
}

// find returns the buried port called name, or nil.
func (g *graveyard) find(name string) *port {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byName[name]
}
