package node_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tetherkit/tether/node"
)

// dbChange is a DBChange with its entries copied.
type dbChange struct {
	entries                 map[string]any
	added, changed, deleted []string
}

func (c dbChange) String() string {
	return fmt.Sprintf("entries %v added %v changed %v deleted %v", c.entries, c.added, c.changed, c.deleted)
}

// dbWatch monitors family on n and passes every report on a channel.
func dbWatch(t *testing.T, n *node.Node, family string) <-chan dbChange {
	t.Helper()
	ch := make(chan dbChange, 1000)
	g, err := n.DBMon(family, func(c node.DBChange) {
		ch <- dbChange{maps.Clone(c.Entries), c.Added, c.Changed, c.Deleted}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return ch
}

// dbNext returns the next report.
func dbNext(t *testing.T, ch <-chan dbChange) dbChange {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-patientCtx(t).Done():
		t.Fatal("no registry report")
		return dbChange{}
	}
}

// dbUntil reads reports until the monitor's view equals want, and returns
// the reports read.
func dbUntil(t *testing.T, ch <-chan dbChange, want map[string]any) []dbChange {
	t.Helper()
	var got []dbChange
	for {
		c := dbNext(t, ch)
		got = append(got, c)
		if reflect.DeepEqual(c.entries, want) {
			return got
		}
	}
}

// seeded starts a node with the given seeds.
func seeded(t *testing.T, id string, seeds ...string) *node.Node {
	t.Helper()
	return startTCP(t, id, func(c *node.Config) { c.Seeds = seeds })
}

func TestRegistryNames(t *testing.T) {
	n := startTCP(t, "n")
	for _, f := range []string{"", "1abc", "a-b", "a b", "'l", "é"} {
		if _, err := n.DBSet(f, "k", 1); !errors.Is(err, node.ErrFamily) {
			t.Errorf("DBSet(%q) = %v, want ErrFamily", f, err)
		}
	}
	for _, f := range []string{"a", "Abc_9:x", "z:"} {
		if _, err := n.DBSet(f, "k", 1); err != nil {
			t.Errorf("DBSet(%q) = %v", f, err)
		}
	}
	if _, err := n.DBSet("f", "", 1); !errors.Is(err, node.ErrKey) {
		t.Errorf("an empty key: %v, want ErrKey", err)
	}
	if err := n.DBDel("f", "a", ""); !errors.Is(err, node.ErrKey) {
		t.Errorf("DBDel with an empty key: %v, want ErrKey", err)
	}
	if _, err := n.DBSet("f", "k", struct{}{}); err == nil {
		t.Error("a value outside the message model was accepted")
	}
	// The internal families can be read, not set.
	if _, err := n.DBKeys(patientCtx(t), "'l"); err != nil {
		t.Errorf("reading 'l: %v", err)
	}
	if _, err := n.DBReg("f", "other#port", nil); !errors.Is(err, node.ErrNotLocal) {
		t.Errorf("DBReg of another node's port: %v, want ErrNotLocal", err)
	}
}

// A node without seeds is its own registry.
func TestRegistryAlone(t *testing.T) {
	n := startTCP(t, "alone")
	ctx := patientCtx(t)
	mon := dbWatch(t, n, "f")
	if c := dbNext(t, mon); len(c.entries) != 0 || len(c.added) != 0 {
		t.Fatalf("first report of an empty family: %v", c)
	}
	g, err := n.DBSet("f", "k", "v")
	if err != nil {
		t.Fatal(err)
	}
	if c := dbNext(t, mon); !slices.Equal(c.added, []string{"k"}) {
		t.Fatalf("after DBSet: %v", c)
	}
	n.DBSet("f", "k", "v") // the same value: no report
	n.DBSet("f", "k", "w")
	if c := dbNext(t, mon); !slices.Equal(c.changed, []string{"k"}) || c.entries["k"] != "w" {
		t.Fatalf("after a change: %v", c)
	}
	g.Stop() // a later DBSet set k: this guard leaves it
	if fam, err := n.DBFamily(ctx, "f"); err != nil || !reflect.DeepEqual(fam, map[string]any{"k": "w"}) {
		t.Fatalf("DBFamily = %v, %v", fam, err)
	}
	if keys, _ := n.DBKeys(ctx, "'l"); !slices.Equal(keys, []string{"alone"}) {
		t.Fatalf("'l keys = %v", keys)
	}
	if vals, _ := n.DBValues(ctx, "'l"); len(vals) != 1 || !reflect.DeepEqual(vals[0], []any{n.Addrs()[0]}) {
		t.Fatalf("'l values = %v, want [[%s]]", vals, n.Addrs()[0])
	}
	n.DBDel("f", "k")
	if c := dbNext(t, mon); !slices.Equal(c.deleted, []string{"k"}) || len(c.entries) != 0 {
		t.Fatalf("after DBDel: %v", c)
	}
}

// Three nodes, one seed: a service registered on a is seen on b, and goes
// when its port dies, when a closes; b reaches a's port by its ID alone,
// through the seed.
func TestRegistryThreeNodesOneSeed(t *testing.T) {
	ctx := patientCtx(t)
	g := startTCP(t, "g")
	a := seeded(t, "a", g.Addrs()...)
	b := seeded(t, "b", g.Addrs()...)
	mon := dbWatch(t, b, "svc")
	dbUntil(t, mon, map[string]any{})

	svc := a.Port(func(c *node.Context, msg []any) error {
		c.Send(msg[0].(string), "hello from", c.Self())
		return nil
	})
	if _, err := a.DBReg("svc", svc, "echo"); err != nil {
		t.Fatal(err)
	}
	dbUntil(t, mon, map[string]any{svc: "echo"})
	keys, err := b.DBKeys(ctx, "svc")
	if err != nil || !slices.Equal(keys, []string{svc}) {
		t.Fatalf("b.DBKeys = %v, %v", keys, err)
	}
	if got := g.Nodes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("the seed is linked to %v", got)
	}

	// b has never been given a's address: it finds it through the seed.
	reply, got := inbox(b)
	b.Send(svc, reply)
	if m := recv(t, got); !reflect.DeepEqual(m, []any{"hello from", svc}) {
		t.Fatalf("reply %v", m)
	}

	a.Kill(svc)
	dbUntil(t, mon, map[string]any{})

	svc2 := a.Port(nil)
	a.DBReg("svc", svc2, "second")
	dbUntil(t, mon, map[string]any{svc2: "second"})
	a.Close(ctx)
	dbUntil(t, mon, map[string]any{})
	if keys, _ := b.DBKeys(ctx, "'l"); !slices.Equal(keys, []string{"b", "g"}) {
		t.Fatalf("'l after a closed: %v", keys)
	}
}

// Five nodes, two seeds: both become global; what one node registers all
// see; when a global closes, its slaves move to the other and the
// monitors see only its own entries go.
func TestRegistryTwoGlobals(t *testing.T) {
	ctx := patientCtx(t)
	g1 := startTCP(t, "g1")
	g2 := seeded(t, "g2", g1.Addrs()...)
	seeds := []string{g1.Addrs()[0], g2.Addrs()[0]}
	var ns []*node.Node
	for i := range 3 {
		ns = append(ns, seeded(t, fmt.Sprintf("n%d", i), seeds...))
	}
	all := append([]*node.Node{g1, g2}, ns...)
	mons := make(map[*node.Node]<-chan dbChange)
	for _, n := range all {
		mons[n] = dbWatch(t, n, "svc")
	}
	want := map[string]any{}
	for i, n := range all {
		p := n.Port(nil)
		if _, err := n.DBReg("svc", p, int64(i)); err != nil {
			t.Fatal(err)
		}
		want[p] = int64(i)
	}
	for _, n := range all {
		dbUntil(t, mons[n], want)
		// What a node's monitor shows, its master has: a query agrees.
		if fam, err := n.DBFamily(ctx, "svc"); err != nil || !reflect.DeepEqual(fam, want) {
			t.Fatalf("%s: DBFamily = %v, %v; want %v", n.ID(), fam, err, want)
		}
	}
	if keys, _ := ns[0].DBKeys(ctx, "'g"); !slices.Equal(keys, []string{"g1", "g2"}) {
		t.Fatalf("the globals: %v", keys)
	}

	g1.Close(ctx)
	for p := range want {
		if strings.HasPrefix(p, "g1#") {
			delete(want, p)
		}
	}
	for _, n := range all[1:] {
		for _, c := range dbUntil(t, mons[n], want) {
			for _, k := range append(c.deleted, c.added...) {
				if !strings.HasPrefix(k, "g1#") {
					t.Errorf("%s: after g1 closed, the monitor reported %v", n.ID(), c)
				}
			}
		}
		if fam, err := n.DBFamily(ctx, "svc"); err != nil || !reflect.DeepEqual(fam, want) {
			t.Fatalf("%s after g1 closed: DBFamily = %v, %v; want %v", n.ID(), fam, err, want)
		}
	}
}

// A query waits for a master while there is none, until its context ends,
// and says why.
func TestRegistryNoMaster(t *testing.T) {
	n := seeded(t, "n", "127.0.0.1:1") // nobody there
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := n.DBFamily(ctx, "f")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "no registry master") {
		t.Fatalf("DBFamily without a master: %v", err)
	}
}
