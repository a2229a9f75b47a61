package db

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestCompareValuesTotalOrder(t *testing.T) {
	vals := []any{
		nil, false, true, int64(-3), float64(-2.5), int64(0), float64(0), int64(2), float64(2.5),
		"", "a", "b", []byte{}, []byte("a"), []any{}, []any{int64(1)}, []any{int64(1), nil},
		map[string]any{}, map[string]any{"a": int64(1)}, map[string]any{"a": int64(2)}, map[string]any{"b": nil},
	}
	for i, a := range vals {
		for j, b := range vals {
			got := compareValues(a, b)
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got != want {
				t.Errorf("compareValues(%#v, %#v) = %d, want %d", a, b, got, want)
			}
		}
	}
	if !equalValues(map[string]any{"x": []any{"y", int64(1)}}, map[string]any{"x": []any{"y", int64(1)}}) {
		t.Error("equal nested values compare unequal")
	}
}

func TestStoreDiffs(t *testing.T) {
	s := NewStore()
	all, mine, err := s.Update("a", Own, "f", map[string]any{"k1": "v1", "k2": "v2"}, nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []Delta{{Family: "f", Set: map[string]any{"k1": "v1", "k2": "v2"}}}
	if !reflect.DeepEqual(all, wantAll) || !reflect.DeepEqual(mine, wantAll) {
		t.Fatalf("first update: all %v mine %v, want %v both", all, mine, wantAll)
	}
	// The same values again change nothing.
	all, mine, _ = s.Update("a", Own, "f", map[string]any{"k1": "v1"}, nil, Limits{})
	if len(all)+len(mine) != 0 {
		t.Fatalf("setting an unchanged value: all %v mine %v, want nothing", all, mine)
	}
	// A peer's value: in the merged view only, and only if it is smaller.
	all, mine, _ = s.Update("g2", Peer, "f", map[string]any{"k1": "a-smaller", "k3": "v3"}, nil, Limits{})
	wantAll = []Delta{{Family: "f", Set: map[string]any{"k1": "a-smaller", "k3": "v3"}}}
	if !reflect.DeepEqual(all, wantAll) || len(mine) != 0 {
		t.Fatalf("peer update: all %v mine %v, want %v and nothing", all, mine, wantAll)
	}
	// The owner deletes k1: the peer's value stays; mine loses it.
	all, mine, _ = s.Update("a", Own, "f", nil, []string{"k1"}, Limits{})
	if len(all) != 0 {
		t.Fatalf("deleting a key another shard holds with the winning value: all %v, want nothing", all)
	}
	if want := []Delta{{Family: "f", Del: []string{"k1"}}}; !reflect.DeepEqual(mine, want) {
		t.Fatalf("mine %v, want %v", mine, want)
	}
	// The peer goes: its keys go from the merged view.
	all, mine = s.Drop("g2")
	if want := []Delta{{Family: "f", Del: []string{"k1", "k3"}}}; !reflect.DeepEqual(all, want) || len(mine) != 0 {
		t.Fatalf("drop: all %v mine %v, want %v and nothing", all, mine, want)
	}
	if got := s.Family("f"); !reflect.DeepEqual(got, map[string]any{"k2": "v2"}) {
		t.Fatalf("family after drop = %v", got)
	}
}

func TestStoreReplace(t *testing.T) {
	s := NewStore()
	s.Update("b", Slave, "f", map[string]any{"x": int64(1), "y": int64(2)}, nil, Limits{})
	all, _, err := s.Replace("b", Slave, Data{"f": {"y": int64(3), "z": int64(4)}, "g": {"w": nil}}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Delta{
		{Family: "f", Set: map[string]any{"y": int64(3), "z": int64(4)}, Del: []string{"x"}},
		{Family: "g", Set: map[string]any{"w": nil}},
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("replace: %v, want %v", all, want)
	}
	if f, k := s.Size("b"); f != 2 || k != 3 {
		t.Fatalf("size %d families %d keys, want 2 and 3", f, k)
	}
}

func TestStoreLimits(t *testing.T) {
	s := NewStore()
	lim := Limits{Families: 2, Keys: 3}
	if _, _, err := s.Update("a", Slave, "f", map[string]any{"1": nil, "2": nil}, nil, lim); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Update("a", Slave, "g", map[string]any{"1": nil, "2": nil}, nil, lim)
	var le *LimitError
	if !errors.As(err, &le) || le.What != "keys" {
		t.Fatalf("a fourth key: %v, want a keys LimitError", err)
	}
	if got := s.Family("g"); len(got) != 0 {
		t.Fatalf("a refused update changed the store: %v", got)
	}
	// Deleting one and setting another in the same update fits.
	if _, _, err := s.Update("a", Slave, "f", map[string]any{"3": nil}, []string{"1", "1"}, lim); err != nil {
		t.Fatalf("replacing a key within the limit: %v", err)
	}
	s.Update("a", Slave, "g", map[string]any{"1": nil}, nil, lim)
	_, _, err = s.Update("a", Slave, "h", map[string]any{"1": nil}, []string{}, lim)
	if !errors.As(err, &le) || le.What != "families" && le.What != "keys" {
		t.Fatalf("a third family: %v, want a LimitError", err)
	}
	if _, _, err := s.Replace("b", Slave, Data{"f": {"1": nil, "2": nil, "3": nil, "4": nil}}, lim); !errors.As(err, &le) {
		t.Fatalf("replace past the limit: %v, want a LimitError", err)
	}
	// Peers are not bounded here.
	if _, _, err := s.Replace("c", Peer, Data{"f": {"1": nil, "2": nil, "3": nil, "4": nil}}, lim); err != nil {
		t.Fatalf("peer shard: %v", err)
	}
}

// TestStoreMergeIsOrderIndependent: whatever order shards set and delete
// the keys in, the merged view is the same function of what each holds.
func TestStoreMergeIsOrderIndependent(t *testing.T) {
	type op struct {
		shard string
		key   string
		val   any
		del   bool
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var ops []op
		for range 30 {
			ops = append(ops, op{
				shard: []string{"a", "b", "c"}[r.IntN(3)],
				key:   []string{"k1", "k2", "k3"}[r.IntN(3)],
				val:   int64(r.IntN(5)),
				del:   r.IntN(4) == 0,
			})
		}
		// The final content of each shard decides the view.
		final := map[string]map[string]any{}
		s := NewStore()
		view := map[string]any{}
		for _, o := range ops {
			var all []Delta
			if o.del {
				all, _, _ = s.Update(o.shard, Slave, "f", nil, []string{o.key}, Limits{})
				delete(final[o.shard], o.key)
			} else {
				all, _, _ = s.Update(o.shard, Slave, "f", map[string]any{o.key: o.val}, nil, Limits{})
				if final[o.shard] == nil {
					final[o.shard] = map[string]any{}
				}
				final[o.shard][o.key] = o.val
			}
			for _, d := range all { // the diffs replay to the view
				for _, k := range d.Del {
					delete(view, k)
				}
				for k, v := range d.Set {
					view[k] = v
				}
			}
		}
		want := map[string]any{}
		for _, fam := range final {
			for k, v := range fam {
				if w, ok := want[k]; !ok || compareValues(v, w) < 0 {
					want[k] = v
				}
			}
		}
		if got := s.Family("f"); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: merged view %v, want %v", round, got, want)
		}
		if !reflect.DeepEqual(view, want) {
			t.Fatalf("round %d: the diffs replay to %v, want %v", round, view, want)
		}
	}
}
