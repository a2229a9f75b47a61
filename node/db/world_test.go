package db

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/node/aemp"
)

// A world runs several States against each other, as nodes linked by
// connections that deliver each direction's frames in order, with the
// interleaving of everything else drawn from a seeded source: what the
// node package does with real links, without the links. Frames are copied
// on the way (as encoding and decoding would), effects are carried out as
// the node does: sends only on the connection the sender knows of,
// changes applied to one view per monitored family, timers on the world's
// clock, keeps as links the world maintains.
type world struct {
	t       *testing.T
	r       *rand.Rand
	grace   time.Duration
	limits  Limits
	nodes   map[string]*wnode
	order   []string
	conns   map[[2]string]*wconn
	token   uint64
	now     time.Duration
	timers  []wtimer
	blocked map[[2]string]bool
	log     []string // with trace: what happened
	trace   bool
}

type wnode struct {
	id      string
	seeds   []string
	s       *State
	alive   bool
	own     Data                      // what this incarnation set, for the expected view
	monitor []string                  // families monitored
	views   map[string]map[string]any // per monitored family: the replay of its changes (nil before the first Full)
	reports map[string][]Change       // per monitored family: every change reported
	keeps   map[string]bool
	answers map[uint64]Answer
}

type wconn struct {
	a, b  string // a < b
	token uint64
	q     [2][]wframe // [0]: a → b, [1]: b → a
}

type wframe struct {
	from  string
	frame []any
}

type wtimer struct {
	at   time.Duration
	node string
	tm   Timer
	inc  *State // the incarnation that armed it
}

func newWorld(t *testing.T, seed uint64) *world {
	return &world{
		t:       t,
		r:       rand.New(rand.NewPCG(seed, seed^0x5eed)),
		grace:   2 * time.Second,
		nodes:   make(map[string]*wnode),
		conns:   make(map[[2]string]*wconn),
		blocked: make(map[[2]string]bool),
	}
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// add starts node id with seeds (node IDs), monitoring families.
func (w *world) add(id string, seeds []string, monitor ...string) *wnode {
	n := &wnode{id: id, seeds: seeds, monitor: monitor}
	w.nodes[id] = n
	w.order = append(w.order, id)
	w.start(n)
	return n
}

// start starts (or restarts) n: a new State, its listen address published,
// its monitors set, and itself global if it is among its seeds.
func (w *world) start(n *wnode) {
	n.s = New(Config{Self: n.id, Seeded: len(n.seeds) > 0, Grace: w.grace, Limits: w.limits})
	n.alive = true
	n.own = Data{}
	n.views = make(map[string]map[string]any)
	n.reports = make(map[string][]Change)
	n.keeps = make(map[string]bool)
	n.answers = make(map[uint64]Answer)
	w.set(n, FamilyListen, n.id, []any{n.id + ":4040"})
	if slices.Contains(n.seeds, n.id) {
		n.s.BecomeGlobal()
		w.process(n)
	}
	for _, f := range n.monitor {
		if data, ok := n.s.Monitor(f); ok {
			n.views[f] = data
		}
		w.process(n)
	}
}

func (w *world) logf(format string, args ...any) {
	if w.trace {
		w.log = append(w.log, fmt.Sprintf("%v ", w.now)+fmt.Sprintf(format, args...))
	}
}

func (w *world) set(n *wnode, f, k string, v any) {
	if err := n.s.Set(f, k, v); err != nil {
		w.t.Fatalf("%s: Set(%s, %s): %v", n.id, f, k, err)
	}
	if n.own[f] == nil {
		n.own[f] = map[string]any{}
	}
	n.own[f][k] = v
	w.logf("%s sets %s/%s = %v", n.id, f, k, v)
	w.process(n)
}

func (w *world) del(n *wnode, f, k string) {
	n.s.Del(f, k)
	delete(n.own[f], k)
	w.logf("%s deletes %s/%s", n.id, f, k)
	w.process(n)
}

// connect links a and b, unless they are linked, blocked or one is down:
// each learns whether the other is one of its seeds, then sees it up.
func (w *world) connect(a, b string) {
	p := pair(a, b)
	na, nb := w.nodes[a], w.nodes[b]
	if a == b || w.conns[p] != nil || w.blocked[p] || !na.alive || !nb.alive {
		return
	}
	w.token++
	w.conns[p] = &wconn{a: p[0], b: p[1], token: w.token}
	w.logf("link %s-%s up (%d)", p[0], p[1], w.token)
	sides := []*wnode{na, nb}
	if w.r.IntN(2) == 0 {
		sides[0], sides[1] = nb, na
	}
	for i, n := range sides {
		other := sides[1-i].id
		if r := slices.Index(n.seeds, other); r >= 0 {
			n.s.Seed(other, r)
		}
		n.s.Up(other, w.token)
		w.process(n)
	}
}

// drop ends the link between a and b; its frames in flight are lost.
func (w *world) drop(a, b string) {
	p := pair(a, b)
	c := w.conns[p]
	if c == nil {
		return
	}
	delete(w.conns, p)
	w.logf("link %s-%s down (%d)", p[0], p[1], c.token)
	sides := []string{a, b}
	if w.r.IntN(2) == 0 {
		sides[0], sides[1] = b, a
	}
	for i, id := range sides {
		if n := w.nodes[id]; n.alive {
			n.s.Down(sides[1-i], c.token)
			w.process(n)
		}
	}
}

// crash stops n: its links go, its timers with it.
func (w *world) crash(n *wnode) {
	w.logf("%s crashes", n.id)
	for _, p := range slices.Collect(maps.Keys(w.conns)) {
		if p[0] == n.id || p[1] == n.id {
			w.drop(p[0], p[1])
		}
	}
	n.alive = false
}

// process carries out n's effects.
func (w *world) process(n *wnode) {
	fx := n.s.Effects()
	for _, s := range fx.Sends {
		c := w.conns[pair(n.id, s.To)]
		if c == nil || c.token != s.Token || !n.alive {
			continue // the node would drop it: no connection
		}
		dir := 0
		if n.id == c.b {
			dir = 1
		}
		c.q[dir] = append(c.q[dir], wframe{from: n.id, frame: cloneValue(s.Frame).([]any)})
	}
	for _, c := range fx.Changes {
		w.apply(n, c)
	}
	for _, a := range fx.Answers {
		n.answers[a.ID] = a
	}
	for _, tm := range fx.Timers {
		w.timers = append(w.timers, wtimer{at: w.now + tm.After, node: n.id, tm: tm, inc: n.s})
	}
	for _, k := range fx.Keeps {
		if k.On {
			n.keeps[k.Node] = true
		} else {
			delete(n.keeps, k.Node)
		}
	}
}

// apply replays a change to n's view of its family, as a node's monitor
// does, and records it.
func (w *world) apply(n *wnode, c Change) {
	if c.Full {
		n.views[c.Family] = maps.Clone(c.Data)
	} else {
		v := n.views[c.Family]
		if v == nil {
			w.t.Fatalf("%s: a delta of %s before its first full content", n.id, c.Family)
		}
		for _, k := range c.Del {
			delete(v, k)
		}
		maps.Copy(v, c.Set)
	}
	n.reports[c.Family] = append(n.reports[c.Family], c)
	w.logf("%s sees %s change full=%v set=%v del=%v", n.id, c.Family, c.Full, c.Set, c.Del)
}

// step delivers one frame in flight, chosen at random; it reports false if
// there was none.
func (w *world) step() bool {
	type dir struct {
		c *wconn
		i int
	}
	var ready []dir
	for _, p := range slices.SortedFunc(maps.Keys(w.conns), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	}) {
		c := w.conns[p]
		for i := range 2 {
			if len(c.q[i]) > 0 {
				ready = append(ready, dir{c, i})
			}
		}
	}
	if len(ready) == 0 {
		return false
	}
	d := ready[w.r.IntN(len(ready))]
	f := d.c.q[d.i][0]
	d.c.q[d.i] = d.c.q[d.i][1:]
	to := d.c.b
	if d.i == 1 {
		to = d.c.a
	}
	n := w.nodes[to]
	r, err := aemp.ParseRequest(f.frame)
	if err != nil {
		w.t.Fatalf("%s sent %v: %v", f.from, f.frame, err)
	}
	w.logf("%s -> %s %v", f.from, to, f.frame[1:])
	if err := n.s.Receive(f.from, d.c.token, r); err != nil && err != ErrNotGlobal {
		w.t.Fatalf("%s: Receive %v from %s: %v", to, f.frame, f.from, err)
	}
	w.process(n)
	return true
}

// fire runs the timers due by now.
func (w *world) fire() {
	slices.SortStableFunc(w.timers, func(a, b wtimer) int { return cmp.Compare(a.at, b.at) })
	for len(w.timers) > 0 && w.timers[0].at <= w.now {
		tm := w.timers[0]
		w.timers = w.timers[1:]
		n := w.nodes[tm.node]
		if n.alive && n.s == tm.inc {
			n.s.Expire(tm.tm.Node, tm.tm.Gen)
			w.process(n)
		}
	}
}

// heal lifts the partitions, then links what nodes link by themselves (a
// node to its seeds, a global to the globals it keeps), delivers every
// frame and lets time pass until nothing more happens.
func (w *world) heal() {
	clear(w.blocked)
	w.settle()
}

// settle is heal without lifting the partitions.
func (w *world) settle() {
	for range 1000 {
		for _, id := range w.order {
			n := w.nodes[id]
			for _, s := range n.seeds {
				w.connect(id, s)
			}
			for _, k := range slices.Sorted(maps.Keys(n.keeps)) {
				w.connect(id, k)
			}
		}
		if w.step() {
			continue
		}
		if len(w.timers) == 0 {
			return
		}
		slices.SortStableFunc(w.timers, func(a, b wtimer) int { return cmp.Compare(a.at, b.at) })
		w.now = max(w.now, w.timers[0].at)
		w.fire()
	}
	w.t.Fatal("the world does not settle")
}

// expected is family f as the live nodes' own entries make it.
func (w *world) expected(f string) map[string]any {
	want := map[string]any{}
	for _, id := range w.order {
		n := w.nodes[id]
		if !n.alive {
			continue
		}
		for k, v := range n.own[f] {
			if old, ok := want[k]; !ok || compareValues(v, old) < 0 {
				want[k] = v
			}
		}
	}
	return want
}

// checkConverged checks every live node's monitors and a query on each
// against the expected content of families.
func (w *world) checkConverged(families ...string) {
	w.t.Helper()
	for _, f := range families {
		want := w.expected(f)
		for _, id := range w.order {
			n := w.nodes[id]
			if !n.alive {
				continue
			}
			if slices.Contains(n.monitor, f) && !reflect.DeepEqual(n.views[f], want) {
				w.fail("%s's monitor of %s shows %v, want %v", id, f, n.views[f], want)
			}
			q := n.s.Query(QueryFamily, f)
			w.process(n)
			w.settle()
			a, ok := n.answers[q]
			if !ok {
				w.fail("%s: no answer to a query of %s", n.id, f)
			} else if !reflect.DeepEqual(a.Value, want) {
				w.fail("%s: a query of %s answers %v, want %v", n.id, f, a.Value, want)
			}
		}
	}
}

func (w *world) fail(format string, args ...any) {
	w.t.Helper()
	if w.trace {
		for _, l := range w.log {
			w.t.Log(l)
		}
		w.log = nil
	}
	w.t.Fatalf(format, args...)
}

// cloneValue deep-copies a value of the message model.
func cloneValue(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []byte:
		return slices.Clone(x)
	}
	return v
}
