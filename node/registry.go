package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tetherkit/tether/node/aemp"
	"github.com/tetherkit/tether/node/db"
)

// Registry is the backend of a node's registry (DBSet, DBFamily, DBMon…):
// where the entries this node owns are published, and where the whole
// network's are read and watched. The embedded default is AnyEvent::MP's
// global nodes (Config.Seeds); Config.Registry plugs in another, such as
// one on etcd, behind the same calls. The node validates family names,
// keys and values before calling a Registry, and implementations must be
// safe for concurrent use.
type Registry interface {
	// Set publishes key of family with value, owned by this node; Del
	// removes keys of family that this node owns. Set fails only past the
	// backend's limits.
	Set(family, key string, value any) error
	Del(family string, keys ...string)

	// Family, Keys and Values read a family of the whole registry (an
	// unknown family is empty), waiting at most for ctx.
	Family(ctx context.Context, family string) (map[string]any, error)
	Keys(ctx context.Context, family string) ([]string, error)
	Values(ctx context.Context, family string) ([]any, error)

	// Find returns the listen addresses node published (ok false if the
	// registry does not know it): how a node reaches another it has only
	// the ID of.
	Find(ctx context.Context, node string) (addrs []string, ok bool, err error)

	// Watch calls fn with the whole family, then with every change to it,
	// until stop is called. A backend may send the whole family again at
	// any time (RegistryEvent.Full), as when it has reconnected. fn is
	// called serially and must return promptly.
	Watch(family string, fn func(RegistryEvent)) (stop func())

	// Close ends what the backend does for the node; the node calls it when
	// it closes. Calls waiting then fail with ErrNodeClosed.
	Close() error
}

// RegistryEvent is what a Registry's Watch reports: the whole family
// (Full, in Data) or a change (keys Set to values, keys Deleted). The
// maps are the event's own: nobody changes them afterwards.
type RegistryEvent struct {
	Full bool
	Data map[string]any
	Set  map[string]any
	Del  []string
}

// Registry errors.
var (
	// ErrFamily: a family name is not [A-Za-z][A-Za-z0-9_:]* (families
	// starting with ' are the registry's own: they can be read, not set).
	ErrFamily = errors.New("invalid registry family")
	// ErrKey: a registry key is empty.
	ErrKey = errors.New("invalid registry key")
	// ErrRegistryLimit: the node owns as many families or keys as
	// Limits.DBFamilies or Limits.DBKeys allow.
	ErrRegistryLimit = errors.New("registry limit reached")
)

// checkFamily returns an error unless family is a name a user may set
// (writable) or read.
func checkFamily(family string, writable bool) error {
	if !writable && (family == db.FamilyListen || family == db.FamilyGlobal) {
		return nil
	}
	ok := family != ""
	for i, r := range family {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == ':'):
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w %q: a family is a letter followed by letters, digits, '_' and ':'", ErrFamily, family)
	}
	return nil
}

func checkKeys(keys ...string) error {
	for _, k := range keys {
		if k == "" {
			return fmt.Errorf("%w: a key is a non-empty string", ErrKey)
		}
	}
	return nil
}

// dbOwned remembers, per key this node set with DBSet or DBReg, which call
// set it last, so that a guard deletes only what its own call set.
type dbOwned struct {
	mu   sync.Mutex
	gen  uint64
	last map[[2]string]uint64
}

// DBSet sets key of family to value in the registry, owned by this node:
// every node sees it (DBFamily, DBMon) until this node deletes it, or its
// link to the registry goes. value is converted as aemp.Normalize says and
// must not change afterwards. The guard deletes the key, unless a later
// DBSet or DBDel of the same key on this node came in between.
//
// DBSet returns an error wrapping ErrFamily, ErrKey or ErrRegistryLimit,
// or an *aemp.ValueError, and then sets nothing.
func (n *Node) DBSet(family, key string, value any) (Guard, error) {
	if err := checkFamily(family, true); err != nil {
		return Guard{}, err
	}
	if err := checkKeys(key); err != nil {
		return Guard{}, err
	}
	v, err := aemp.Normalize(value)
	if err != nil {
		return Guard{}, fmt.Errorf("node: DBSet %s/%s: %w", family, key, err)
	}
	o := &n.owned
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := n.reg.Set(family, key, v); err != nil {
		var le *db.LimitError
		if errors.As(err, &le) {
			return Guard{}, fmt.Errorf("node: DBSet %s/%s: %w: %v", family, key, ErrRegistryLimit, err)
		}
		return Guard{}, fmt.Errorf("node: DBSet %s/%s: %w", family, key, err)
	}
	o.gen++
	gen, fk := o.gen, [2]string{family, key}
	if o.last == nil {
		o.last = make(map[[2]string]uint64)
	}
	o.last[fk] = gen
	var once atomic.Bool
	return Guard{stop: func() {
		if once.Swap(true) {
			return
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.last[fk] == gen {
			delete(o.last, fk)
			n.reg.Del(family, key)
		}
	}}, nil
}

// DBDel deletes keys of family that this node owns. It returns an error
// wrapping ErrFamily or ErrKey, and then deletes nothing.
func (n *Node) DBDel(family string, keys ...string) error {
	if err := checkFamily(family, true); err != nil {
		return err
	}
	if err := checkKeys(keys...); err != nil {
		return err
	}
	n.owned.mu.Lock()
	defer n.owned.mu.Unlock()
	for _, k := range keys {
		delete(n.owned.last, [2]string{family, k})
	}
	n.reg.Del(family, keys...)
	return nil
}

// DBReg registers the local port in family: DBSet with the port ID as the
// key, deleted when the port dies (or the guard is stopped). A port that
// is dead already is deleted at once. It returns ErrNotLocal for a port of
// another node, and DBSet's errors.
func (n *Node) DBReg(family, port string, value any) (Guard, error) {
	if _, err := n.local(port); err != nil {
		return Guard{}, err
	}
	g, err := n.DBSet(family, port, value)
	if err != nil {
		return Guard{}, err
	}
	m := n.Monitor(port, Func(func([]any) { g.Stop() }))
	return Guard{stop: func() { m.Stop(); g.Stop() }}, nil
}

// DBFamily returns family (key → value) as the registry holds it: one
// round trip to this node's master, or none if it is global. An unknown
// family is empty. It waits for a master while there is none, until ctx
// ends; it returns an error wrapping ErrFamily, ctx's error, or
// ErrNodeClosed.
func (n *Node) DBFamily(ctx context.Context, family string) (map[string]any, error) {
	if err := checkFamily(family, false); err != nil {
		return nil, err
	}
	m, err := n.reg.Family(ctx, family)
	if err != nil {
		return nil, fmt.Errorf("node: DBFamily %s: %w", family, err)
	}
	return m, nil
}

// DBKeys is DBFamily's keys, sorted.
func (n *Node) DBKeys(ctx context.Context, family string) ([]string, error) {
	if err := checkFamily(family, false); err != nil {
		return nil, err
	}
	k, err := n.reg.Keys(ctx, family)
	if err != nil {
		return nil, fmt.Errorf("node: DBKeys %s: %w", family, err)
	}
	return k, nil
}

// DBValues is DBFamily's values, in no particular order.
func (n *Node) DBValues(ctx context.Context, family string) ([]any, error) {
	if err := checkFamily(family, false); err != nil {
		return nil, err
	}
	v, err := n.reg.Values(ctx, family)
	if err != nil {
		return nil, fmt.Errorf("node: DBValues %s: %w", family, err)
	}
	return v, nil
}

// DBChange is what a registry monitor (DBMon) reports: the family as the
// monitor knows it now, and the keys that were added, changed and deleted
// since the last report (sorted). The first report has the whole family,
// every key in Added — even when the family is empty.
//
// Entries is the monitor's own view, updated in place by the next report:
// read it during the callback and copy what you keep.
type DBChange struct {
	Family                  string
	Entries                 map[string]any
	Added, Changed, Deleted []string
}

// DBMon monitors family: fn is called with the whole family (even if
// empty), then with every change, as added, changed and deleted keys. A key
// set again to the same value, or a master's new snapshot that changes
// nothing, is not reported. fn runs on the node port's executor, one call
// at a time, and must return promptly. Stop the guard to stop; no call
// starts after Stop returns. It returns an error wrapping ErrFamily.
func (n *Node) DBMon(family string, fn func(DBChange)) (Guard, error) {
	return n.dbMon(family, fn, nil)
}

// DBMon is Node.DBMon with fn run in this port's context; the monitor
// stops when the port dies.
func (c *Context) DBMon(family string, fn func(DBChange)) (Guard, error) {
	return c.n.dbMon(family, fn, c.p)
}

func (n *Node) dbMon(family string, fn func(DBChange), owner *port) (Guard, error) {
	if err := checkFamily(family, false); err != nil {
		return Guard{}, err
	}
	w := &dbWatch{family: family, fn: fn}
	p := owner
	if p == nil {
		p = n.nodePort
	}
	stop := n.reg.Watch(family, func(ev RegistryEvent) {
		p.shard.push(item{p: p, fn: func(*Context) { w.apply(ev) }}, false)
	})
	g := Guard{stop: func() {
		if !w.stopped.Swap(true) {
			stop()
		}
	}}
	if owner != nil {
		n.monitor(owner.id, Func(func([]any) { g.Stop() }), nil)
	}
	return g, nil
}

// dbWatch is one DBMon: its view of the family, kept by its executor.
type dbWatch struct {
	family  string
	fn      func(DBChange)
	stopped atomic.Bool
	view    map[string]any // nil until the first report
}

// apply takes an event of the family into the view and reports what it
// changed; it runs on the monitor's executor.
func (w *dbWatch) apply(ev RegistryEvent) {
	if w.stopped.Load() {
		return
	}
	if w.view == nil {
		if !ev.Full {
			return // a backend reports the whole family first
		}
		w.view = maps.Clone(ev.Data)
		if w.view == nil {
			w.view = map[string]any{}
		}
		w.fn(DBChange{Family: w.family, Entries: w.view, Added: slices.Sorted(maps.Keys(w.view))})
		return
	}
	c := DBChange{Family: w.family, Entries: w.view}
	set, del := ev.Set, ev.Del
	if ev.Full {
		set = ev.Data
		for k := range w.view {
			if _, ok := ev.Data[k]; !ok {
				del = append(del, k)
			}
		}
	}
	for _, k := range del {
		if _, ok := w.view[k]; ok {
			delete(w.view, k)
			c.Deleted = append(c.Deleted, k)
		}
	}
	for k, v := range set {
		old, ok := w.view[k]
		switch {
		case !ok:
			c.Added = append(c.Added, k)
		case !db.Equal(old, v):
			c.Changed = append(c.Changed, k)
		default:
			continue
		}
		w.view[k] = v
	}
	if len(c.Added)+len(c.Changed)+len(c.Deleted) == 0 {
		return
	}
	slices.Sort(c.Added)
	slices.Sort(c.Changed)
	slices.Sort(c.Deleted)
	w.fn(c)
}
