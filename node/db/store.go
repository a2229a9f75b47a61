package db

import (
	"fmt"
	"maps"
	"slices"
)

// Kind says whose entries a shard holds, which decides what a global node
// passes on to the other globals.
type Kind uint8

const (
	// Own: this node's own entries.
	Own Kind = iota
	// Slave: the entries of a node that made this one its master.
	Slave
	// Peer: what another global node holds for itself and its slaves (its
	// g_set, then its g_upd). A global passes on changes to its Own and
	// Slave shards only: each global speaks for its own slaves.
	Peer
)

func (k Kind) String() string {
	switch k {
	case Own:
		return "own"
	case Slave:
		return "slave"
	case Peer:
		return "peer"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Data is a whole database, or a shard of one: family → key → value.
type Data = map[string]map[string]any

// Delta is a change to one family: keys set (added or changed, with their
// new values) and keys deleted.
type Delta struct {
	Family string
	Set    map[string]any // nil if none
	Del    []string       // sorted; nil if none
}

// Store is the registry as one node holds it: shards, each the entries one
// source put there (this node, a slave, another global), and the merged
// view of all of them that queries and monitors see.
//
// A key that several shards hold has, in the merged view, the smallest of
// their values (compareValues): which value wins does not depend on the
// order the updates arrived in, so every global converges on the same view.
// ("The same key set on two nodes gives a nondeterministic value" in
// AnyEvent::MP; here it is deterministic.)
//
// Every change returns two diffs of the merged view: over all shards (for
// the monitors) and over the Own and Slave shards only ("mine": what a
// global passes on to the other globals, whose own shard of this node is
// exactly that). A Store is not safe for concurrent use.
type Store struct {
	shards map[string]*shard
	fams   map[string]map[string]*entry // the merged index
}

type shard struct {
	kind Kind
	data Data
	keys int
}

// entry is one key of the merged view: who holds it, with what value.
type entry struct {
	holders []holding
}

type holding struct {
	sh *shard
	v  any
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{shards: make(map[string]*shard), fams: make(map[string]map[string]*entry)}
}

// Limits bound what one shard of kind Own or Slave may hold. Zero fields
// mean no bound.
type Limits struct {
	Families int // families with at least one key
	Keys     int // keys over all families
}

// LimitError reports an update that would take a shard past its Limits;
// nothing of the update was applied.
type LimitError struct {
	Shard string
	What  string // "families" or "keys"
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("registry limit: %s would own more than %d %s", e.Shard, e.Limit, e.What)
}

// Kind returns the kind of shard name, and whether it exists.
func (s *Store) Kind(name string) (Kind, bool) {
	sh := s.shards[name]
	if sh == nil {
		return 0, false
	}
	return sh.kind, true
}

// Update sets and deletes keys of family in shard name, creating the shard
// with kind if it does not exist (a shard that exists keeps its kind). It
// returns the diffs of the merged view, or a *LimitError and no change.
func (s *Store) Update(name string, kind Kind, family string, set map[string]any, del []string, lim Limits) (all, mine []Delta, err error) {
	sh := s.shards[name]
	if sh == nil {
		sh = &shard{kind: kind, data: make(Data)}
	}
	if err := s.check(name, sh, family, set, del, lim); err != nil {
		return nil, nil, err
	}
	s.shards[name] = sh
	t := s.track()
	fam := sh.data[family]
	for _, k := range del {
		if _, ok := fam[k]; ok {
			t.touch(family, k)
			s.remove(sh, family, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		t.touch(family, k)
		s.put(sh, family, k, set[k])
	}
	all, mine = t.diffs()
	return all, mine, nil
}

// check returns the *LimitError that applying del and then set to family
// would cause, if sh is bounded.
func (s *Store) check(name string, sh *shard, family string, set map[string]any, del []string, lim Limits) error {
	if sh.kind == Peer {
		return nil
	}
	fam := sh.data[family]
	n := len(fam)
	gone := make(map[string]bool, len(del))
	for _, k := range del {
		if _, ok := fam[k]; ok && !gone[k] {
			gone[k] = true
			n--
		}
	}
	for k := range set {
		if _, ok := fam[k]; !ok || gone[k] {
			n++
		}
	}
	fams := len(sh.data)
	switch {
	case len(fam) == 0 && n > 0:
		fams++
	case len(fam) > 0 && n == 0:
		fams--
	}
	return lim.check(name, fams, sh.keys-len(fam)+n)
}

func (lim Limits) check(name string, fams, keys int) error {
	switch {
	case lim.Families > 0 && fams > lim.Families:
		return &LimitError{Shard: name, What: "families", Limit: lim.Families}
	case lim.Keys > 0 && keys > lim.Keys:
		return &LimitError{Shard: name, What: "keys", Limit: lim.Keys}
	}
	return nil
}

// Replace makes data the whole content of shard name, of kind kind. It
// returns the diffs of the merged view, or a *LimitError and no change.
// The store keeps data's inner maps: the caller must not change them.
func (s *Store) Replace(name string, kind Kind, data Data, lim Limits) (all, mine []Delta, err error) {
	if kind != Peer {
		keys := 0
		fams := 0
		for _, fam := range data {
			if len(fam) > 0 {
				fams++
				keys += len(fam)
			}
		}
		if err := lim.check(name, fams, keys); err != nil {
			return nil, nil, err
		}
	}
	t := s.track()
	if old := s.shards[name]; old != nil {
		s.clear(t, old)
	}
	sh := &shard{kind: kind, data: make(Data, len(data))}
	s.shards[name] = sh
	for _, f := range slices.Sorted(maps.Keys(data)) {
		for _, k := range slices.Sorted(maps.Keys(data[f])) {
			t.touch(f, k)
			s.put(sh, f, k, data[f][k])
		}
	}
	all, mine = t.diffs()
	return all, mine, nil
}

// Drop removes shard name and returns the diffs of the merged view.
func (s *Store) Drop(name string) (all, mine []Delta) {
	sh := s.shards[name]
	if sh == nil {
		return nil, nil
	}
	t := s.track()
	s.clear(t, sh)
	delete(s.shards, name)
	return t.diffs()
}

// clear removes every key of sh, touching each in t.
func (s *Store) clear(t *tracker, sh *shard) {
	for _, f := range slices.Sorted(maps.Keys(sh.data)) {
		for _, k := range slices.Sorted(maps.Keys(sh.data[f])) {
			t.touch(f, k)
			s.remove(sh, f, k)
		}
	}
}

// put sets key k of family f in sh to v.
func (s *Store) put(sh *shard, f, k string, v any) {
	fam := sh.data[f]
	if fam == nil {
		fam = make(map[string]any)
		sh.data[f] = fam
	}
	if _, ok := fam[k]; !ok {
		sh.keys++
	}
	fam[k] = v
	idx := s.fams[f]
	if idx == nil {
		idx = make(map[string]*entry)
		s.fams[f] = idx
	}
	e := idx[k]
	if e == nil {
		e = &entry{}
		idx[k] = e
	}
	for i := range e.holders {
		if e.holders[i].sh == sh {
			e.holders[i].v = v
			return
		}
	}
	e.holders = append(e.holders, holding{sh: sh, v: v})
}

// remove deletes key k of family f from sh, which holds it.
func (s *Store) remove(sh *shard, f, k string) {
	fam := sh.data[f]
	delete(fam, k)
	sh.keys--
	if len(fam) == 0 {
		delete(sh.data, f)
	}
	idx := s.fams[f]
	e := idx[k]
	if e == nil {
		return
	}
	e.holders = slices.DeleteFunc(e.holders, func(h holding) bool { return h.sh == sh })
	if len(e.holders) == 0 {
		delete(idx, k)
		if len(idx) == 0 {
			delete(s.fams, f)
		}
	}
}

// value returns the merged value of e over all shards, or (mine) over the
// Own and Slave shards only.
func (e *entry) value(mine bool) (any, bool) {
	var best any
	found := false
	for _, h := range e.holders {
		if mine && h.sh.kind == Peer {
			continue
		}
		if !found || compareValues(h.v, best) < 0 {
			best, found = h.v, true
		}
	}
	return best, found
}

// Get returns the merged value of key k of family f.
func (s *Store) Get(f, k string) (any, bool) {
	e := s.fams[f][k]
	if e == nil {
		return nil, false
	}
	return e.value(false)
}

// Family returns a copy of family f of the merged view (empty, not nil, if
// the family has no keys).
func (s *Store) Family(f string) map[string]any {
	idx := s.fams[f]
	out := make(map[string]any, len(idx))
	for k, e := range idx {
		out[k], _ = e.value(false)
	}
	return out
}

// Keys returns the keys of family f of the merged view, sorted.
func (s *Store) Keys(f string) []string {
	return slices.Sorted(maps.Keys(s.fams[f]))
}

// Values returns the values of family f of the merged view, in the order of
// their keys.
func (s *Store) Values(f string) []any {
	keys := s.Keys(f)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i], _ = s.fams[f][k].value(false)
	}
	return out
}

// Families returns the families of the merged view, sorted.
func (s *Store) Families() []string { return slices.Sorted(maps.Keys(s.fams)) }

// Mine returns a copy of the merged view over the Own and Slave shards: what
// a global tells another (g_set).
func (s *Store) Mine() Data {
	out := make(Data)
	for f, idx := range s.fams {
		for k, e := range idx {
			if v, ok := e.value(true); ok {
				if out[f] == nil {
					out[f] = make(map[string]any)
				}
				out[f][k] = v
			}
		}
	}
	return out
}

// Shard returns a copy of shard name's content (nil if there is none).
func (s *Store) Shard(name string) Data {
	sh := s.shards[name]
	if sh == nil {
		return nil
	}
	out := make(Data, len(sh.data))
	for f, fam := range sh.data {
		out[f] = maps.Clone(fam)
	}
	return out
}

// Holds reports whether shard name holds key k of family f.
func (s *Store) Holds(name, f, k string) bool {
	sh := s.shards[name]
	if sh == nil {
		return false
	}
	_, ok := sh.data[f][k]
	return ok
}

// Size returns the number of families and keys shard name holds.
func (s *Store) Size(name string) (families, keys int) {
	if sh := s.shards[name]; sh != nil {
		return len(sh.data), sh.keys
	}
	return 0, 0
}

// tracker remembers the merged values of the keys a change touches, before
// the change, to diff them after it.
type tracker struct {
	s      *Store
	before map[fk]values
	order  []fk
}

type fk struct{ f, k string }

type values struct {
	all, mine     any
	hasAll, hasMe bool
}

func (s *Store) track() *tracker { return &tracker{s: s, before: make(map[fk]values)} }

func (s *Store) values(f, k string) values {
	e := s.fams[f][k]
	if e == nil {
		return values{}
	}
	var v values
	v.all, v.hasAll = e.value(false)
	v.mine, v.hasMe = e.value(true)
	return v
}

func (t *tracker) touch(f, k string) {
	key := fk{f, k}
	if _, ok := t.before[key]; ok {
		return
	}
	t.before[key] = t.s.values(f, k)
	t.order = append(t.order, key)
}

// diffs returns the changes of the touched keys, by family in sorted order.
func (t *tracker) diffs() (all, mine []Delta) {
	byAll := make(map[string]*Delta)
	byMine := make(map[string]*Delta)
	for _, key := range t.order {
		b, a := t.before[key], t.s.values(key.f, key.k)
		note(byAll, key, b.all, b.hasAll, a.all, a.hasAll)
		note(byMine, key, b.mine, b.hasMe, a.mine, a.hasMe)
	}
	return sortDeltas(byAll), sortDeltas(byMine)
}

func note(m map[string]*Delta, key fk, before any, had bool, after any, has bool) {
	switch {
	case has && (!had || !equalValues(before, after)):
		d := delta(m, key.f)
		if d.Set == nil {
			d.Set = make(map[string]any)
		}
		d.Set[key.k] = after
	case had && !has:
		d := delta(m, key.f)
		d.Del = append(d.Del, key.k)
	}
}

func delta(m map[string]*Delta, f string) *Delta {
	d := m[f]
	if d == nil {
		d = &Delta{Family: f}
		m[f] = d
	}
	return d
}

func sortDeltas(m map[string]*Delta) []Delta {
	out := make([]Delta, 0, len(m))
	for _, f := range slices.Sorted(maps.Keys(m)) {
		d := m[f]
		slices.Sort(d.Del)
		out = append(out, *d)
	}
	return out
}
