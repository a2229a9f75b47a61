package db

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tetherkit/tether/node/aemp"
)

// A node that finds itself in its seed list is global; the others make it
// their master, and what one sets another sees, in a monitor and a query.
func TestOneSeed(t *testing.T) {
	w := newWorld(t, 1)
	g := w.add("g", []string{"g"})
	a := w.add("a", []string{"g"})
	b := w.add("b", []string{"g"}, "svc")
	w.heal()
	if !g.s.Global() || a.s.Global() || b.s.Global() {
		t.Fatalf("global: g %v a %v b %v, want only g", g.s.Global(), a.s.Global(), b.s.Global())
	}
	if a.s.Master() != "g" || b.s.Master() != "g" {
		t.Fatalf("masters: a %q b %q, want g", a.s.Master(), b.s.Master())
	}
	w.set(a, "svc", "a#1", "worker")
	w.heal()
	w.checkConverged("svc", FamilyListen)
	if got := b.views["svc"]; !reflect.DeepEqual(got, map[string]any{"a#1": "worker"}) {
		t.Fatalf("b's monitor: %v", got)
	}
	// a's link to g goes: its entries go, at once.
	w.drop("a", "g")
	for w.step() {
	}
	if got := b.views["svc"]; len(got) != 0 {
		t.Fatalf("after a's link to its master failed, b's monitor still shows %v", got)
	}
	w.heal() // a reconnects and registers again
	w.checkConverged("svc")
}

// A node without seeds answers itself; a g_slave makes it global.
func TestAloneThenGlobal(t *testing.T) {
	w := newWorld(t, 2)
	g := w.add("g", nil, "f")
	w.set(g, "f", "k", int64(1))
	if got := g.views["f"]; !reflect.DeepEqual(got, map[string]any{"k": int64(1)}) {
		t.Fatalf("alone: monitor %v", got)
	}
	a := w.add("a", []string{"g"}, "f")
	w.heal()
	if !g.s.Global() {
		t.Fatal("a node that got g_slave is not global")
	}
	w.set(a, "f", "j", int64(2))
	w.heal()
	w.checkConverged("f")
}

// Two globals, five nodes. When a global dies, its slaves move to the
// other; a monitor sees the dead global's own entries deleted and no other
// entry deleted or added again, and the view converges.
func TestGlobalFailover(t *testing.T) {
	w := newWorld(t, 3)
	seeds := []string{"g1", "g2"}
	g1 := w.add("g1", seeds, "svc")
	w.add("g2", seeds, "svc")
	s1 := w.add("s1", seeds, "svc")
	s2 := w.add("s2", []string{"g2", "g1"}, "svc")
	s3 := w.add("s3", seeds, "svc")
	w.heal()
	w.set(g1, "svc", "g1#p", "g1's")
	w.set(s1, "svc", "s1#p", "s1's")
	w.set(s2, "svc", "s2#p", "s2's")
	w.heal()
	w.checkConverged("svc", FamilyListen)
	if s1.s.Master() != "g1" || s2.s.Master() != "g2" {
		t.Fatalf("masters: s1 %q s2 %q", s1.s.Master(), s2.s.Master())
	}
	before := len(s3.reports["svc"])
	w.crash(g1)
	w.heal()
	w.checkConverged("svc")
	if s1.s.Master() != "g2" || s3.s.Master() != "g2" {
		t.Fatalf("after g1 died: masters s1 %q s3 %q, want g2", s1.s.Master(), s3.s.Master())
	}
	var deleted, set []string
	for _, c := range s3.reports["svc"][before:] {
		if c.Full {
			continue // a new master's snapshot: the monitor diffs it
		}
		deleted = append(deleted, c.Del...)
		for k := range c.Set {
			set = append(set, k)
		}
	}
	if !slices.Equal(deleted, []string{"g1#p"}) || len(set) != 0 {
		t.Fatalf("s3's monitor, after g1 died: deleted %v, set %v; want only g1#p deleted", deleted, set)
	}
	// g1 comes back: it meets g2 again, and its entries are seen again.
	w.start(g1)
	w.set(g1, "svc", "g1#q", "g1's again")
	w.heal()
	w.checkConverged("svc", FamilyListen)
}

// The master only: changes from a node that is not the master are
// ignored, and so are frames from a connection that has gone.
func TestMasterOnlyAndStaleConnections(t *testing.T) {
	s := New(Config{Self: "a", Seeded: true})
	s.Seed("g", 0)
	s.Up("g", 1)
	s.Up("x", 2)
	if s.Master() != "g" {
		t.Fatalf("master %q", s.Master())
	}
	if _, ok := s.Monitor("f"); ok {
		t.Fatal("a slave knows a family before its master told it")
	}
	s.Effects()
	chg1 := aemp.Request{Tag: aemp.ReqGChg1, Args: []any{"f", map[string]any{"k": "v"}}}
	s.Receive("x", 2, chg1)
	s.Receive("g", 9, chg1) // a connection that is not g's
	if fx := s.Effects(); len(fx.Changes) != 0 {
		t.Fatalf("a snapshot from a non-master or a stale connection was taken: %v", fx.Changes)
	}
	s.Receive("g", 1, chg1)
	fx := s.Effects()
	if len(fx.Changes) != 1 || !fx.Changes[0].Full || !reflect.DeepEqual(fx.Changes[0].Data, map[string]any{"k": "v"}) {
		t.Fatalf("the master's snapshot gave %v", fx.Changes)
	}
	// A second monitor gets the content at once.
	if data, ok := s.Monitor("f"); !ok || !reflect.DeepEqual(data, map[string]any{"k": "v"}) {
		t.Fatalf("second monitor: %v %v", data, ok)
	}
}

// When the master changes, the new one gets the whole database, the
// monitors and the queries still waiting.
func TestMasterChangeResends(t *testing.T) {
	s := New(Config{Self: "a", Seeded: true})
	s.Set("f", "k", "v")
	s.Seed("g1", 0)
	s.Seed("g2", 1)
	s.Up("g1", 1)
	s.Up("g2", 2)
	s.Monitor("m")
	id := s.Query(QueryKeys, "q")
	find := s.Find("n")
	s.Effects()
	s.Down("g1", 1)
	fx := s.Effects()
	var got []string
	for _, snd := range fx.Sends {
		if snd.To != "g2" {
			t.Fatalf("sent to %s after g1 went down", snd.To)
		}
		got = append(got, fmt.Sprint(snd.Frame[1:]))
	}
	want := []string{
		fmt.Sprint([]any{aemp.ReqGSlave, map[string]any{"f": map[string]any{"k": "v"}}}),
		fmt.Sprint([]any{aemp.ReqGMon1, "m"}),
		fmt.Sprint([]any{aemp.ReqGDBKeys, "q", fmt.Sprint(id)}),
		fmt.Sprint([]any{aemp.ReqGFind, "n"}),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("to the new master:\n got %q\nwant %q", got, want)
	}
	s.Receive("g2", 2, aemp.Request{Tag: aemp.ReqGReply, Args: []any{fmt.Sprint(id), []any{"x", "b"}}})
	s.Receive("g2", 2, aemp.Request{Tag: aemp.ReqGFound, Args: []any{"n", []any{"h:1"}}})
	fx = s.Effects()
	if len(fx.Answers) != 2 || !reflect.DeepEqual(fx.Answers[0], Answer{ID: id, Value: []string{"b", "x"}}) ||
		!reflect.DeepEqual(fx.Answers[1], Answer{ID: find, Value: []string{"h:1"}}) {
		t.Fatalf("answers %+v", fx.Answers)
	}
}

// Limits: a slave's database past the limits is refused whole.
func TestSlaveLimits(t *testing.T) {
	s := New(Config{Self: "g", Limits: Limits{Keys: 2}})
	s.Up("a", 1)
	db := map[string]any{"f": map[string]any{"1": nil, "2": nil, "3": nil}}
	err := s.Receive("a", 1, aemp.Request{Tag: aemp.ReqGSlave, Args: []any{db}})
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("g_slave past the limits: %v, want a *LimitError", err)
	}
	if got := s.Store().Family("f"); len(got) != 0 {
		t.Fatalf("refused entries were kept: %v", got)
	}
	if err := s.Set("f", "1", nil); err != nil {
		t.Fatal(err)
	}
	s.Set("f", "2", nil)
	if err := s.Set("f", "3", nil); !errors.As(err, &le) {
		t.Fatalf("Set past the limits: %v", err)
	}
}

// TestConvergence runs many seeds of a random schedule — links dropped,
// partitions, globals and slaves crashing and restarting, entries set and
// deleted — and checks after every heal that each node's monitors and
// queries show exactly the live nodes' entries.
func TestConvergence(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { convergence(t, seed, false) })
	}
}

func convergence(t *testing.T, seed uint64, trace bool) {
	w := newWorld(t, seed)
	w.trace = trace
	seedList := []string{"g1", "g2"}
	ids := []string{"g1", "g2", "n1", "n2", "n3", "n4"}
	for i, id := range ids {
		seeds := seedList
		if i%2 == 1 {
			seeds = []string{"g2", "g1"}
		}
		w.add(id, seeds, "f1", "f2")
	}
	families := []string{"f1", "f2"}
	keys := []string{"a", "b", "c"}
	for round := range 6 {
		for range 40 {
			n := w.nodes[ids[w.r.IntN(len(ids))]]
			switch x := w.r.IntN(20); {
			case x < 8 && n.alive:
				// Keys of the node's own (so that owners are unambiguous)
				// and shared ones (values merged).
				k := keys[w.r.IntN(len(keys))]
				if w.r.IntN(2) == 0 {
					k = n.id + "#" + k
				}
				w.set(n, families[w.r.IntN(2)], k, int64(w.r.IntN(3)))
			case x < 11 && n.alive:
				f := families[w.r.IntN(2)]
				if ks := slices.Sorted(maps.Keys(n.own[f])); len(ks) > 0 {
					w.del(n, f, ks[w.r.IntN(len(ks))])
				}
			case x < 15:
				w.step()
			case x < 16:
				o := ids[w.r.IntN(len(ids))]
				w.drop(n.id, o)
			case x < 17:
				o := ids[w.r.IntN(len(ids))]
				w.blocked[pair(n.id, o)] = true
				w.drop(n.id, o)
			case x < 18 && n.alive && w.r.IntN(3) == 0:
				w.crash(n)
			case x < 18 && !n.alive:
				w.start(n)
			case x < 19:
				w.now += time.Duration(w.r.IntN(3000)) * time.Millisecond
				w.fire()
			default:
				w.settle()
			}
		}
		// A registry needs a global node: the seeds that crashed restart
		// (and some of the other nodes).
		for _, id := range ids {
			if n := w.nodes[id]; !n.alive && (slices.Contains(seedList, id) || w.r.IntN(2) == 0) {
				w.start(n)
			}
		}
		w.heal()
		w.checkConverged(families...)
		w.logf("round %d converged", round)
	}
}

// A slave that becomes global goes on asking its master until the globals
// it met have sent it what they hold: its monitors never see a registry of
// its own entries alone.
func TestBecomeGlobalTakesOverWhenSynced(t *testing.T) {
	s := New(Config{Self: "a", Seeded: true})
	s.Seed("g", 0)
	s.Up("g", 1)
	s.Receive("g", 1, aemp.Request{Tag: aemp.ReqGGlobal})
	s.Monitor("f")
	s.Receive("g", 1, aemp.Request{Tag: aemp.ReqGChg1, Args: []any{"f", map[string]any{"k": "v"}}})
	s.Effects()
	s.Up("x", 2)
	s.Receive("x", 2, aemp.Request{Tag: aemp.ReqGSlave}) // x makes a global
	if !s.Global() || s.Master() != "g" {
		t.Fatalf("after g_slave: global %v, master %q; want global, still served by g", s.Global(), s.Master())
	}
	fx := s.Effects()
	for _, c := range fx.Changes {
		t.Fatalf("a monitor was shown %+v before a had g's entries", c)
	}
	id := s.Query(QueryKeys, "f")
	fx = s.Effects()
	if len(fx.Answers) != 0 || len(fx.Sends) != 1 || fx.Sends[0].To != "g" {
		t.Fatalf("a query while syncing: answers %v, sends %v; want it asked of g", fx.Answers, fx.Sends)
	}
	// g's g_set arrives: a takes over.
	s.Receive("g", 1, aemp.Request{Tag: aemp.ReqGSet, Args: []any{map[string]any{"f": map[string]any{"k": "v"}}}})
	fx = s.Effects()
	if s.Master() != "a" {
		t.Fatalf("after g's g_set the master is %q, want a itself", s.Master())
	}
	if len(fx.Answers) != 1 || fx.Answers[0].ID != id || !reflect.DeepEqual(fx.Answers[0].Value, []string{"k"}) {
		t.Fatalf("answers %+v; want the waiting query answered with [k]", fx.Answers)
	}
	if len(fx.Changes) != 1 || !fx.Changes[0].Full || !reflect.DeepEqual(fx.Changes[0].Data, map[string]any{"k": "v"}) {
		t.Fatalf("changes %+v; want the whole family, as g had it", fx.Changes)
	}
}
