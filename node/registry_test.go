package node_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
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
	listen := dbWatch(t, b, "'l")
	dbUntil(t, listen, map[string]any{"a": []any{a.Addrs()[0]}, "b": []any{b.Addrs()[0]}, "g": []any{g.Addrs()[0]}})
	a.Close(ctx)
	dbUntil(t, mon, map[string]any{})                                                      // its registrations first
	dbUntil(t, listen, map[string]any{"b": []any{b.Addrs()[0]}, "g": []any{g.Addrs()[0]}}) // then all it had
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
	// Both seeds become global (each gets a bare g_slave from the others).
	dbUntil(t, dbWatch(t, ns[0], "'g"), map[string]any{"g1": nil, "g2": nil})

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

// The limits: a node owns at most Limits.DBKeys entries (its listen
// addresses in 'l among them) in at most Limits.DBFamilies families; a
// global refuses a slave's update past its own limits, whole.
func TestRegistryLimits(t *testing.T) {
	g := startTCP(t, "g", func(c *node.Config) { c.Limits.DBKeys = 3 })
	if _, err := g.DBSet("f", "k1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := g.DBSet("f", "k2", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := g.DBSet("f", "k3", 3); !errors.Is(err, node.ErrRegistryLimit) {
		t.Fatalf("a fourth key ('l is the first): %v, want ErrRegistryLimit", err)
	}
	if _, err := g.DBSet("f", "k2", 20); err != nil {
		t.Fatalf("changing a key within the limit: %v", err)
	}
	h := startTCP(t, "h", func(c *node.Config) { c.Limits.DBFamilies = 2 })
	h.DBSet("f1", "k", 1)
	if _, err := h.DBSet("f2", "k", 1); !errors.Is(err, node.ErrRegistryLimit) {
		t.Fatalf("a third family ('l is the first): %v, want ErrRegistryLimit", err)
	}

	a := seeded(t, "a", g.Addrs()...)
	mon := dbWatch(t, g, "big")
	dbUntil(t, mon, map[string]any{})
	a.DBSet("big", "1", 1) // with a's 'l entry: two keys, within g's limit
	dbUntil(t, mon, map[string]any{"1": int64(1)})
	a.DBSet("big", "2", 2)            // three: still within
	a.DBSet("big", "3", 3)            // four: g refuses this update
	a.DBSet("small", "x", 0)          // and this one
	b := seeded(t, "b", g.Addrs()...) // a node that fits
	b.DBSet("big", "b", "b's")        // comes after a's refused updates
	got := dbUntil(t, mon, map[string]any{"1": int64(1), "2": int64(2), "b": "b's"})
	for _, c := range got {
		if slices.Contains(c.added, "3") {
			t.Fatalf("g took an update past the limit: %v", c)
		}
	}
}

// testRegistry is a second registry backend, as simple as can be: one map
// shared by the nodes of a test, in memory. It serves the registry API
// unchanged, discovery included.
type testRegistry struct {
	mu      sync.Mutex
	data    map[string]map[string]any             // family → key → value
	owners  map[string]map[[2]string]bool         // node → what it owns
	watches map[string][]func(node.RegistryEvent) // by family
}

func (r *testRegistry) backend(n *node.Node) (node.Registry, error) {
	return &testRegistryNode{r: r, id: n.ID()}, nil
}

type testRegistryNode struct {
	r  *testRegistry
	id string
}

func (b *testRegistryNode) Set(family, key string, value any) error {
	r := b.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data[family] == nil {
		r.data[family] = map[string]any{}
	}
	r.data[family][key] = value
	if r.owners[b.id] == nil {
		r.owners[b.id] = map[[2]string]bool{}
	}
	r.owners[b.id][[2]string{family, key}] = true
	for _, w := range r.watches[family] {
		w(node.RegistryEvent{Set: map[string]any{key: value}})
	}
	return nil
}

func (b *testRegistryNode) Del(family string, keys ...string) {
	r := b.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.data[family], k)
		delete(r.owners[b.id], [2]string{family, k})
	}
	for _, w := range r.watches[family] {
		w(node.RegistryEvent{Del: keys})
	}
}

func (b *testRegistryNode) Family(ctx context.Context, family string) (map[string]any, error) {
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	return maps.Clone(b.r.data[family]), nil
}

func (b *testRegistryNode) Keys(ctx context.Context, family string) ([]string, error) {
	m, _ := b.Family(ctx, family)
	return slices.Sorted(maps.Keys(m)), nil
}

func (b *testRegistryNode) Values(ctx context.Context, family string) ([]any, error) {
	m, _ := b.Family(ctx, family)
	return slices.Collect(maps.Values(m)), nil
}

func (b *testRegistryNode) Find(ctx context.Context, id string) ([]string, bool, error) {
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	v, ok := b.r.data["'l"][id]
	var addrs []string
	for _, a := range v.([]any) {
		addrs = append(addrs, a.(string))
	}
	return addrs, ok, nil
}

func (b *testRegistryNode) Watch(family string, fn func(node.RegistryEvent)) func() {
	r := b.r
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(node.RegistryEvent{Full: true, Data: maps.Clone(r.data[family])})
	i := len(r.watches[family])
	r.watches[family] = append(r.watches[family], fn)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.watches[family][i] = func(node.RegistryEvent) {}
	}
}

func (b *testRegistryNode) Close() error {
	r := b.r
	r.mu.Lock()
	owned := r.owners[b.id]
	delete(r.owners, b.id)
	r.mu.Unlock()
	for fk := range owned {
		b.Del(fk[0], fk[1])
	}
	return nil
}

// Another backend behind Config.Registry serves the same calls: DBReg and
// DBMon across nodes, and a node reached by ID through it.
func TestRegistryOtherBackend(t *testing.T) {
	r := &testRegistry{
		data:    map[string]map[string]any{},
		owners:  map[string]map[[2]string]bool{},
		watches: map[string][]func(node.RegistryEvent){},
	}
	cfg := func(c *node.Config) { c.Registry = r.backend }
	a, b := startTCP(t, "a", cfg), startTCP(t, "b", cfg)
	mon := dbWatch(t, b, "svc")
	dbUntil(t, mon, map[string]any{})
	svc := a.Port(func(c *node.Context, msg []any) error {
		c.Send(msg[0].(string), "pong")
		return nil
	})
	if _, err := a.DBReg("svc", svc, "x"); err != nil {
		t.Fatal(err)
	}
	dbUntil(t, mon, map[string]any{svc: "x"})
	reply, got := inbox(b)
	b.Send(svc, reply) // b knows a only through the registry
	if m := recv(t, got); !reflect.DeepEqual(m, []any{"pong"}) {
		t.Fatalf("reply %v", m)
	}
	a.Kill(svc)
	dbUntil(t, mon, map[string]any{})
}
