package db

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/tetherkit/tether/node/aemp"
)

// A node that is not global has a master: the seed it registered with,
// which answers its queries and tells it about the families it monitors.
// It picks the connected seed first in its seed list; when the master goes
// down it picks another, sends it its whole database (g_slave) and asks
// again whatever was waiting for an answer.

// pickMaster picks a master if the node needs one and has none: the
// linked seed of the smallest rank.
func (s *State) pickMaster() {
	if s.global || s.answersLocally() {
		return
	}
	if _, up := s.up[s.master]; s.master != "" && up {
		return
	}
	best, rank := "", 0
	for n, r := range s.seeds {
		if _, up := s.up[n]; up && (best == "" || r < rank || r == rank && n < best) {
			best, rank = n, r
		}
	}
	if best != "" {
		s.setMaster(best)
	}
}

// setMaster makes m the master: it gets this node's whole database, the
// monitors of families, and every query and lookup still waiting.
func (s *State) setMaster(m string) {
	s.master = m
	s.send(m, aemp.NodePort, aemp.ReqGSlave, dataToModel(s.store.Shard(s.cfg.Self)))
	for _, f := range slices.Sorted(maps.Keys(s.local)) {
		s.local[f].valid = false
		s.send(m, aemp.FamilyMonitor{Tag: aemp.ReqGMon1, Family: f}.Frame()...)
	}
	for _, id := range slices.Sorted(maps.Keys(s.queries)) {
		q := s.queries[id]
		s.send(m, aemp.DBQuery{Tag: q.kind.tag(), Family: q.family, ID: strconv.FormatUint(id, 10)}.Frame()...)
	}
	for _, n := range slices.Sorted(maps.Keys(s.finds)) {
		s.send(m, aemp.Find{Tag: aemp.ReqGFind, Node: n}.Frame()...)
	}
}

// dataToModel turns a Data into the message model's map of maps.
func dataToModel(d Data) map[string]any {
	out := make(map[string]any, len(d))
	for f, fam := range d {
		out[f] = fam
	}
	return out
}

// QueryKind is what a query asks for about a family.
type QueryKind uint8

const (
	// QueryFamily: the whole family, map[string]any (g_db_family).
	QueryFamily QueryKind = iota
	// QueryKeys: its keys, []string, sorted (g_db_keys).
	QueryKeys
	// QueryValues: its values, []any (g_db_values).
	QueryValues
)

func (k QueryKind) tag() string {
	switch k {
	case QueryKeys:
		return aemp.ReqGDBKeys
	case QueryValues:
		return aemp.ReqGDBValues
	}
	return aemp.ReqGDBFamily
}

func kindOf(tag string) QueryKind {
	switch tag {
	case aemp.ReqGDBKeys:
		return QueryKeys
	case aemp.ReqGDBValues:
		return QueryValues
	}
	return QueryFamily
}

type query struct {
	kind   QueryKind
	family string
}

// Query asks about family; the answer comes as an Answer with the returned
// ID: at once on a node that answers itself, else when the master replies
// (whichever master that is by then).
func (s *State) Query(kind QueryKind, family string) uint64 {
	s.nextID++
	id := s.nextID
	if s.answersLocally() {
		s.answer(Answer{ID: id, Value: s.localResult(kind, family)})
		return id
	}
	s.queries[id] = &query{kind: kind, family: family}
	if s.master != "" {
		s.send(s.master, aemp.DBQuery{Tag: kind.tag(), Family: family, ID: strconv.FormatUint(id, 10)}.Frame()...)
	}
	return id
}

// Find asks for node's listen addresses; the answer comes as an Answer
// with the returned ID (Missing if the registry does not know the node).
func (s *State) Find(node string) uint64 {
	s.nextID++
	id := s.nextID
	if s.answersLocally() {
		addrs, known := s.addrs(node)
		s.answer(Answer{ID: id, Value: addrs, Missing: !known})
		return id
	}
	first := len(s.finds[node]) == 0
	s.finds[node] = append(s.finds[node], id)
	if first && s.master != "" {
		s.send(s.master, aemp.Find{Tag: aemp.ReqGFind, Node: node}.Frame()...)
	}
	return id
}

// Cancel forgets the query or lookup id: its answer, if one comes, is
// dropped.
func (s *State) Cancel(id uint64) {
	if _, ok := s.queries[id]; ok {
		delete(s.queries, id)
		return
	}
	for n, ids := range s.finds {
		if i := slices.Index(ids, id); i >= 0 {
			if ids = slices.Delete(ids, i, i+1); len(ids) == 0 {
				delete(s.finds, n)
			} else {
				s.finds[n] = ids
			}
			return
		}
	}
}

func (s *State) answer(a Answer) { s.fx.Answers = append(s.fx.Answers, a) }

// answerAll answers everything waiting, from this node's own view: it has
// become global.
func (s *State) answerAll() {
	for _, id := range slices.Sorted(maps.Keys(s.queries)) {
		q := s.queries[id]
		s.answer(Answer{ID: id, Value: s.localResult(q.kind, q.family)})
	}
	clear(s.queries)
	for _, n := range slices.Sorted(maps.Keys(s.finds)) {
		addrs, known := s.addrs(n)
		for _, id := range s.finds[n] {
			s.answer(Answer{ID: id, Value: addrs, Missing: !known})
		}
	}
	clear(s.finds)
}

// localResult answers a query from the merged view, in the Go types of an
// Answer.
func (s *State) localResult(kind QueryKind, family string) any {
	switch kind {
	case QueryKeys:
		return s.store.Keys(family)
	case QueryValues:
		return s.store.Values(family)
	}
	return s.store.Family(family)
}

// result answers a query from the merged view, in the message model (for
// g_reply).
func (s *State) result(kind QueryKind, family string) any {
	switch kind {
	case QueryKeys:
		keys := s.store.Keys(family)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return out
	case QueryValues:
		return s.store.Values(family)
	}
	return s.store.Family(family)
}

// reply completes a query with the master's g_reply.
func (s *State) reply(r aemp.DBReply) {
	ids, ok := r.ID.(string)
	if !ok {
		return
	}
	id, err := strconv.ParseUint(ids, 10, 64)
	if err != nil {
		return
	}
	q := s.queries[id]
	if q == nil {
		return
	}
	delete(s.queries, id)
	v, err := fromReply(q.kind, r.Result)
	s.answer(Answer{ID: id, Value: v, Err: err})
}

// fromReply converts a g_reply's result to the Go type of kind's answer.
func fromReply(kind QueryKind, v any) (any, error) {
	switch kind {
	case QueryKeys:
		l, ok := v.([]any)
		if !ok && v != nil {
			return nil, fmt.Errorf("registry: the master answered keys with a %T, not a list", v)
		}
		keys := make([]string, 0, len(l))
		for _, k := range l {
			s, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("registry: the master answered a key %v (%T), not a string", k, k)
			}
			keys = append(keys, s)
		}
		slices.Sort(keys)
		return keys, nil
	case QueryValues:
		l, ok := v.([]any)
		if !ok && v != nil {
			return nil, fmt.Errorf("registry: the master answered values with a %T, not a list", v)
		}
		if l == nil {
			l = []any{}
		}
		return l, nil
	}
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("registry: the master answered a family with a %T, not a map", v)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// found completes the lookups of node with the master's g_found.
func (s *State) found(node string, addrs []string, missing bool) {
	for _, id := range s.finds[node] {
		s.answer(Answer{ID: id, Value: addrs, Missing: missing})
	}
	delete(s.finds, node)
}

// Monitor starts a monitor of family on this node. It returns the family's
// content now, if this node knows it (it answers itself, or its master
// has told it); otherwise the content comes as a Full Change.
func (s *State) Monitor(family string) (map[string]any, bool) {
	m := s.local[family]
	if m == nil {
		m = &mirror{}
		s.local[family] = m
	}
	m.count++
	switch {
	case s.answersLocally():
		return s.store.Family(family), true
	case m.count == 1 && s.master != "":
		s.send(s.master, aemp.FamilyMonitor{Tag: aemp.ReqGMon1, Family: family}.Frame()...)
	case m.valid:
		return maps.Clone(m.data), true
	}
	return nil, false
}

// Unmonitor ends a monitor of family that Monitor started.
func (s *State) Unmonitor(family string) {
	m := s.local[family]
	if m == nil {
		return
	}
	if m.count--; m.count > 0 {
		return
	}
	delete(s.local, family)
	if !s.answersLocally() && s.master != "" {
		s.send(s.master, aemp.FamilyMonitor{Tag: aemp.ReqGMon0, Family: family}.Frame()...)
	}
}

// snapshot takes the master's g_chg1: the whole family.
func (s *State) snapshot(family string, all map[string]any) {
	m := s.local[family]
	if m == nil {
		return
	}
	if all == nil {
		all = map[string]any{}
	}
	m.data, m.valid = all, true
	s.fx.Changes = append(s.fx.Changes, Change{Family: family, Full: true, Data: maps.Clone(all)})
}

// masterChange takes the master's g_chg2.
func (s *State) masterChange(family string, set map[string]any, del []string) {
	m := s.local[family]
	if m == nil || !m.valid {
		return
	}
	for _, k := range del {
		delete(m.data, k)
	}
	maps.Copy(m.data, set)
	s.fx.Changes = append(s.fx.Changes, Change{Family: family, Set: set, Del: del})
}
