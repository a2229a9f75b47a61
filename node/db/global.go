package db

import (
	"fmt"
	"maps"
	"slices"

	"github.com/tetherkit/tether/node/aemp"
)

// A global node holds the registry for others: a shard for each slave (its
// own entries, from g_slave and g_upd), a shard for each other global (its
// entries and its slaves', from g_set and g_upd), its own, and the merged
// view of all of them, from which it answers queries and tells the nodes
// that monitor families here of every change. Globals form a full mesh:
// each passes the changes of its own and its slaves' entries on to the
// others, so every global holds the whole registry.

// BecomeGlobal makes this node a global node (it found itself in its seed
// list, or a node sent it g_slave): it tells every linked node it is
// global, meets the globals among them, and lists itself in FamilyGlobal.
// It answers its own queries and monitors from then on — once the globals
// it met have sent it what they hold (g_set), so that a node that was a
// slave does not show its monitors a registry that has, for a moment,
// nothing but its own entries; until then its master goes on serving it.
func (s *State) BecomeGlobal() {
	if s.global {
		return
	}
	s.global = true
	for _, n := range slices.Sorted(maps.Keys(s.up)) {
		s.send(n, aemp.NodePort, aemp.ReqGGlobal)
	}
	s.setInternal(FamilyGlobal, s.cfg.Self, nil)
	s.syncing = make(map[string]bool)
	for _, g := range s.globalPeers() {
		s.meet(g)
		s.syncing[g] = true
	}
	if len(s.syncing) == 0 || s.master == "" {
		s.takeOver()
	}
}

// synced notes that global g has sent what it holds (or gone): a node that
// became global takes over from its master once all it met have.
func (s *State) synced(g string) {
	if !s.syncing[g] {
		return
	}
	delete(s.syncing, g)
	if len(s.syncing) == 0 {
		s.takeOver()
	}
}

// takeOver makes a global node its own master: it answers what waits, and
// its monitors get the family from its own view.
func (s *State) takeOver() {
	old := s.master
	s.syncing = nil
	s.master = s.cfg.Self
	s.answerAll()
	_, oldUp := s.up[old]
	for _, f := range slices.Sorted(maps.Keys(s.local)) {
		m := s.local[f]
		m.data, m.valid = nil, false
		if old != "" && old != s.cfg.Self && oldUp {
			s.send(old, aemp.FamilyMonitor{Tag: aemp.ReqGMon0, Family: f}.Frame()...)
		}
		s.fx.Changes = append(s.fx.Changes, Change{Family: f, Full: true, Data: s.store.Family(f)})
	}
}

// meet is what a global does when another global says so: it lists it in
// FamilyGlobal and sends it all it holds for itself and its slaves
// (g_set). What that node held here as a slave stays until its g_set
// replaces it.
func (s *State) meet(g string) {
	s.setInternal(FamilyGlobal, g, nil)
	s.send(g, aemp.NodePort, aemp.ReqGSet, dataToModel(s.store.Mine()))
}

// setInternal sets an entry of an internal family in this node's own
// shard. Internal entries are few (one per global node met), so they are
// not held to the limits.
func (s *State) setInternal(family, key string, value any) {
	all, mine, _ := s.store.Update(s.cfg.Self, Own, family, map[string]any{key: value}, nil, Limits{})
	s.changed(all, mine)
}

// attachSlave makes node a slave of this global: db, its whole database,
// becomes its shard.
func (s *State) attachSlave(node string, db aemp.DB) error {
	all, mine, err := s.store.Replace(node, Slave, toData(db), s.cfg.Limits)
	if err != nil {
		return err
	}
	delete(s.graces, node)
	s.changed(all, mine)
	return nil
}

// update applies g_upd from node: a slave's change of its own entries, or
// another global's change of what it holds.
func (s *State) update(node string, c aemp.DBChange) error {
	if !s.global {
		return ErrNotGlobal
	}
	kind, ok := s.store.Kind(node)
	if !ok {
		kind = Slave
		if s.globals[node] {
			kind = Peer
		}
	}
	all, mine, err := s.store.Update(node, kind, c.Family, c.Set, c.Del, s.cfg.Limits)
	if err != nil {
		return err
	}
	s.changed(all, mine)
	return nil
}

// peerSet takes another global's g_set: all it holds, which replaces its
// shard. This node keeps the other's listen addresses among its own
// entries, so that it can find it again after losing it.
func (s *State) peerSet(node string, db aemp.DB) error {
	if !s.global {
		return ErrNotGlobal
	}
	data := toData(db)
	all, mine, err := s.store.Replace(node, Peer, data, Limits{})
	if err != nil {
		return err
	}
	delete(s.graces, node)
	s.changed(all, mine)
	if addrs, ok := data[FamilyListen][node]; ok {
		s.setInternal(FamilyListen, node, addrs)
	}
	s.synced(node)
	return nil
}

// toData turns a database of the message model (checked by aemp.ParseDB)
// into a Data.
func toData(db aemp.DB) Data {
	out := make(Data, len(db))
	for f, fam := range db {
		if m, _ := fam.(map[string]any); len(m) > 0 {
			out[f] = m
		}
	}
	return out
}

// remoteMonitor starts (g_mon1) or stops (g_mon0) node's monitor of family
// here; g_mon1 is answered with the whole family (g_chg1, null if it has
// no keys).
func (s *State) remoteMonitor(node, family string, start bool) error {
	if !s.serves() {
		return ErrNotGlobal
	}
	fams := s.remoteMons[node]
	if !start {
		delete(fams, family)
		delete(s.monitorsOf[family], node)
		if len(s.monitorsOf[family]) == 0 {
			delete(s.monitorsOf, family)
		}
		return nil
	}
	if !fams[family] {
		if lim := s.cfg.Limits.Families; lim > 0 && len(fams) >= lim {
			return fmt.Errorf("registry limit: %s would monitor more than %d families", node, lim)
		}
		if fams == nil {
			fams = make(map[string]bool)
			s.remoteMons[node] = fams
		}
		fams[family] = true
		if s.monitorsOf[family] == nil {
			s.monitorsOf[family] = make(map[string]bool)
		}
		s.monitorsOf[family][node] = true
	}
	var all map[string]any
	if fam := s.store.Family(family); len(fam) > 0 {
		all = fam
	}
	s.send(node, aemp.FamilyMonitor{Tag: aemp.ReqGChg1, Family: family, All: all}.Frame()...)
	return nil
}

// Expire is the grace timer of another global's shard (see Timer): unless
// it has been refreshed since (g_set), the entries it held go.
func (s *State) Expire(node string, gen uint64) {
	if g, ok := s.graces[node]; !ok || g != gen {
		return
	}
	delete(s.graces, node)
	if kind, ok := s.store.Kind(node); ok && kind == Peer {
		s.changed(s.store.Drop(node))
	}
}

// keep asks for links to the global nodes that a change of FamilyGlobal
// added, and for none to those it removed.
func (s *State) keep(d Delta) {
	for _, g := range slices.Sorted(maps.Keys(d.Set)) {
		if g != s.cfg.Self {
			s.fx.Keeps = append(s.fx.Keeps, Keep{Node: g, On: true})
		}
	}
	for _, g := range d.Del {
		if g != s.cfg.Self {
			s.fx.Keeps = append(s.fx.Keeps, Keep{Node: g, On: false})
		}
	}
}
