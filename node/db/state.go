package db

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tetherkit/tether/node/aemp"
)

// The internal families: every node publishes its listen addresses in
// FamilyListen (node ID → list of "host:port"), and every global node the
// global nodes it knows of in FamilyGlobal (node ID → nil).
const (
	FamilyListen = "'l"
	FamilyGlobal = "'g"
)

// Config configures a State.
type Config struct {
	// Self is this node's ID.
	Self string
	// Seeded says the node has seeds: it looks for a master among them. A
	// node without seeds is its own master, alone (it answers its own
	// queries from its own entries) until a g_slave makes it global.
	Seeded bool
	// Limits bound what this node, and each of its slaves when it is
	// global, may own.
	Limits Limits
	// Grace is how long the entries another global node passed on outlive
	// its link: long enough for the slaves it had to register with another
	// master, so that a global's death does not make all of them vanish
	// and reappear.
	Grace time.Duration
}

// State is one node's part in AnyEvent::MP's registry protocol (global
// nodes, masters, slaves), as a pure state
// machine: the node feeds it inputs — links up and down, g_* frames,
// local calls, timers — and carries out the Effects they produce. It does
// no I/O, reads no clock and starts no goroutine, so a test can drive it
// step by step. It is not safe for concurrent use.
//
// Links are identified by a token the node chooses (each connection its
// own): an input about a connection that is no longer the one the State
// knows of (a frame read from a connection that has just been replaced)
// is ignored.
type State struct {
	cfg   Config
	store *Store

	global bool
	master string            // "" while there is none; Self when global or alone
	seeds  map[string]int    // seed node ID → its rank in the seed list
	up     map[string]uint64 // linked nodes → their connection token
	// globals are the linked nodes that said g_global on their current
	// connection.
	globals map[string]bool

	// syncing: the globals a node that has just become global waits for
	// (their g_set) before it takes over from its master.
	syncing map[string]bool

	// As a global: who monitors what here (g_mon1).
	remoteMons map[string]map[string]bool // node → families
	monitorsOf map[string]map[string]bool // family → nodes
	graces     map[string]uint64          // global → the Gen of its armed grace timer
	gen        uint64

	// As any node: the families monitored on this node, the queries and
	// lookups waiting for the master.
	local   map[string]*mirror
	queries map[uint64]*query
	finds   map[string][]uint64 // node → the lookups waiting for it
	nextID  uint64

	fx Effects
}

// mirror is a family monitored on this node: how many monitors, and the
// family as the master last told (on a node that is not its own master).
type mirror struct {
	count int
	data  map[string]any
	valid bool // data holds the master's snapshot (g_chg1) and its changes since
}

// New returns the State of a node that has just started: no links, no
// entries.
func New(cfg Config) *State {
	s := &State{
		cfg:        cfg,
		store:      NewStore(),
		seeds:      make(map[string]int),
		up:         make(map[string]uint64),
		globals:    make(map[string]bool),
		remoteMons: make(map[string]map[string]bool),
		monitorsOf: make(map[string]map[string]bool),
		graces:     make(map[string]uint64),
		local:      make(map[string]*mirror),
		queries:    make(map[uint64]*query),
		finds:      make(map[string][]uint64),
	}
	if !cfg.Seeded {
		s.master = cfg.Self
	}
	return s
}

// Effects returns what the inputs since the last call ask for, and
// forgets it.
func (s *State) Effects() Effects {
	fx := s.fx
	s.fx = Effects{}
	return fx
}

// Global reports whether this node is a global node.
func (s *State) Global() bool { return s.global }

// Master returns the current master: "" if there is none, this node's own
// ID if it is global or alone.
func (s *State) Master() string { return s.master }

// Store returns the node's store, for reading.
func (s *State) Store() *Store { return s.store }

// answersLocally reports whether this node answers its own queries: it is
// global (and has taken over from its master), or alone.
func (s *State) answersLocally() bool { return s.master == s.cfg.Self }

// serves reports whether this node answers other nodes' requests.
func (s *State) serves() bool { return s.global || s.answersLocally() }

func (s *State) send(to string, frame ...any) {
	s.fx.Sends = append(s.fx.Sends, Send{To: to, Token: s.up[to], Frame: frame})
}

// Seed says node is the seed of rank rank (its place in the node's seed
// list): a candidate master. The node learns it from the greeting of a
// connection to a seed's address.
func (s *State) Seed(node string, rank int) {
	if node == s.cfg.Self {
		return
	}
	if r, ok := s.seeds[node]; ok && r <= rank {
		return
	}
	s.seeds[node] = rank
	if _, up := s.up[node]; up {
		s.greetSeed(node)
	}
}

// greetSeed asks the seed node, which is up, to be global (a bare g_slave,
// sent on every connection to a seed) and reconsiders the master.
func (s *State) greetSeed(node string) {
	s.send(node, aemp.NodePort, aemp.ReqGSlave)
	s.pickMaster()
}

// Up says a connection to node (identified by token) has come up.
func (s *State) Up(node string, token uint64) {
	s.up[node] = token
	delete(s.globals, node)
	if s.global {
		s.send(node, aemp.NodePort, aemp.ReqGGlobal)
	}
	if _, ok := s.seeds[node]; ok {
		s.greetSeed(node)
	}
}

// Down says the connection token to node has gone down. A slave's entries
// go at once; another global's when its grace has passed (Expire).
func (s *State) Down(node string, token uint64) {
	if t, ok := s.up[node]; !ok || t != token {
		return
	}
	delete(s.up, node)
	delete(s.globals, node)
	for f := range s.remoteMons[node] {
		delete(s.monitorsOf[f], node)
		if len(s.monitorsOf[f]) == 0 {
			delete(s.monitorsOf, f)
		}
	}
	delete(s.remoteMons, node)
	switch kind, ok := s.store.Kind(node); {
	case ok && kind == Slave:
		s.changed(s.store.Drop(node))
	case ok && kind == Peer:
		s.gen++
		s.graces[node] = s.gen
		s.fx.Timers = append(s.fx.Timers, Timer{Node: node, Gen: s.gen, After: s.cfg.Grace})
	}
	if node == s.master {
		s.master = ""
		s.pickMaster()
	}
	s.synced(node)
}

// ErrNotGlobal is the reason a request that only a global node serves was
// refused.
var ErrNotGlobal = errors.New("not a global node")

// Receive takes a g_* request from node on connection token. It returns a
// *aemp.RequestError for a malformed request, a *LimitError for an update
// past the limits, or ErrNotGlobal, for the node to log; the request then
// changed nothing.
func (s *State) Receive(from string, token uint64, r aemp.Request) error {
	if t, ok := s.up[from]; !ok || t != token {
		return nil // from a connection that has gone
	}
	switch r.Tag {
	case aemp.ReqGGlobal:
		s.globals[from] = true
		if s.global {
			s.meet(from)
		}
		return nil
	case aemp.ReqGSlave:
		db, err := aemp.ParseDB(r)
		if err != nil {
			return err
		}
		s.BecomeGlobal()
		if db != nil {
			return s.attachSlave(from, db)
		}
		return nil
	case aemp.ReqGUpd:
		c, err := aemp.ParseDBChange(r)
		if err != nil {
			return err
		}
		return s.update(from, c)
	case aemp.ReqGSet:
		db, err := aemp.ParseDB(r)
		if err != nil {
			return err
		}
		return s.peerSet(from, db)
	case aemp.ReqGFind:
		f, err := aemp.ParseFind(r)
		if err != nil {
			return err
		}
		if !s.serves() {
			return ErrNotGlobal
		}
		addrs, known := s.addrs(f.Node)
		s.send(from, aemp.Find{Tag: aemp.ReqGFound, Node: f.Node, Known: known, Addrs: addrs}.Frame()...)
		return nil
	case aemp.ReqGFound:
		f, err := aemp.ParseFind(r)
		if err != nil {
			return err
		}
		if from == s.master {
			s.found(f.Node, f.Addrs, !f.Known)
		}
		return nil
	case aemp.ReqGDBFamily, aemp.ReqGDBKeys, aemp.ReqGDBValues:
		q, err := aemp.ParseDBQuery(r)
		if err != nil {
			return err
		}
		if !s.serves() {
			return ErrNotGlobal
		}
		s.send(from, q.Reply(s.result(kindOf(q.Tag), q.Family))...)
		return nil
	case aemp.ReqGReply:
		rep, err := aemp.ParseDBReply(r)
		if err != nil {
			return err
		}
		if from == s.master {
			s.reply(rep)
		}
		return nil
	case aemp.ReqGMon1, aemp.ReqGMon0, aemp.ReqGChg1:
		m, err := aemp.ParseFamilyMonitor(r)
		if err != nil {
			return err
		}
		if m.Tag == aemp.ReqGChg1 {
			if from == s.master {
				s.snapshot(m.Family, m.All)
			}
			return nil
		}
		return s.remoteMonitor(from, m.Family, m.Tag == aemp.ReqGMon1)
	case aemp.ReqGChg2:
		c, err := aemp.ParseDBChange(r)
		if err != nil {
			return err
		}
		if from == s.master {
			s.masterChange(c.Family, c.Set, c.Del)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown tag %q", aemp.ErrBadRequest, r.Tag)
}

// Set sets key of family to value in this node's own entries. value must be
// in the message model and not change afterwards. It returns a *LimitError
// past the limits.
func (s *State) Set(family, key string, value any) error {
	all, mine, err := s.store.Update(s.cfg.Self, Own, family, map[string]any{key: value}, nil, s.cfg.Limits)
	if err != nil {
		return err
	}
	s.changed(all, mine)
	return nil
}

// Del deletes keys of family from this node's own entries.
func (s *State) Del(family string, keys ...string) {
	all, mine, _ := s.store.Update(s.cfg.Self, Own, family, nil, keys, Limits{})
	s.changed(all, mine)
}

// Own returns this node's own entries (a copy).
func (s *State) Own() Data { return s.store.Shard(s.cfg.Self) }

// changed passes on a change of the store: to the monitors on this node
// (if it answers them), to the nodes that monitor the family here (if
// global); and the change of "mine" to the other globals (if global) or to
// the master (if a slave).
func (s *State) changed(all, mine []Delta) {
	for _, d := range all {
		if m := s.local[d.Family]; m != nil && s.answersLocally() {
			s.fx.Changes = append(s.fx.Changes, Change{Family: d.Family, Set: d.Set, Del: d.Del})
		}
		if !s.global {
			continue
		}
		for _, n := range slices.Sorted(maps.Keys(s.monitorsOf[d.Family])) {
			set := d.Set
			if set == nil {
				set = map[string]any{} // Perl sends {} for a pure deletion
			}
			s.send(n, aemp.DBChange{Tag: aemp.ReqGChg2, Family: d.Family, Set: set, Del: d.Del}.Frame()...)
		}
		if d.Family == FamilyGlobal {
			s.keep(d)
		}
	}
	var to []string
	switch {
	case s.global:
		to = s.globalPeers()
	case s.master != "" && s.master != s.cfg.Self:
		to = []string{s.master}
	}
	for _, d := range mine {
		for _, n := range to {
			s.send(n, aemp.DBChange{Tag: aemp.ReqGUpd, Family: d.Family, Set: d.Set, Del: d.Del}.Frame()...)
		}
	}
}

// globalPeers returns the other global nodes linked to this one, sorted.
func (s *State) globalPeers() []string {
	return slices.Sorted(maps.Keys(s.globals))
}

// addrs returns node's listen addresses as the merged view has them.
func (s *State) addrs(node string) ([]string, bool) {
	v, ok := s.store.Get(FamilyListen, node)
	if !ok {
		return nil, false
	}
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, a := range l {
		if a, ok := a.(string); ok {
			out = append(out, a)
		}
	}
	return out, true
}
