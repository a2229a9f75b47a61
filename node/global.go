package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
	"github.com/tetherkit/tether/node/db"
)

// globals is the embedded registry: this node's part in AnyEvent::MP's
// global-node protocol (package db's State), driven by the node's links
// and carried out on them.
//
// Every input runs under mu and is followed, still under mu, by draining
// the State's effects: monitor changes go to the watches (which only queue
// work on executors), answers to the waiting calls, timers are armed. The
// frames to send and the links to keep wait in out, and whoever finds the
// pump idle after releasing its locks carries them out, in order, without
// holding mu: links are locked while they send, and a link calls up and
// down (below) with its own lock held, so mu must never be held while
// taking a link's.
type globals struct {
	n *Node

	mu      sync.Mutex
	st      *db.State
	waiters map[uint64]chan db.Answer
	watches map[string][]*regWatch
	timers  map[*timer]struct{}
	closed  bool
	pumping bool
	idle    chan struct{} // closed when the pump stops, if settle waits for it
	out     []effect
}

// effect is a send or a keep, waiting for the pump.
type effect struct {
	send db.Send
	keep *db.Keep
}

type regWatch struct{ fn func(RegistryEvent) }

// timer is an armed grace timer (a key of globals.timers).
type timer struct{ t clock.Timer }

func newGlobals(n *Node) *globals {
	return &globals{
		n: n,
		st: db.New(db.Config{
			Self:   n.id,
			Seeded: len(n.cfg.Seeds) > 0,
			Limits: db.Limits{Families: n.cfg.Limits.DBFamilies, Keys: n.cfg.Limits.DBKeys},
			Grace:  n.cfg.ConnectTimeout,
		}),
		waiters: make(map[uint64]chan db.Answer),
		watches: make(map[string][]*regWatch),
		timers:  make(map[*timer]struct{}),
	}
}

// do runs an input under mu and drains its effects; it reports false if
// the registry has closed. The caller pumps.
func (g *globals) do(input func(st *db.State)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	input(g.st)
	g.drain()
	return true
}

// drain carries out the State's effects but sends and keeps, which it
// queues for the pump. mu is held.
func (g *globals) drain() {
	fx := g.st.Effects()
	for _, s := range fx.Sends {
		g.out = append(g.out, effect{send: s})
	}
	for _, c := range fx.Changes {
		ev := RegistryEvent{Full: c.Full, Data: c.Data, Set: c.Set, Del: c.Del}
		for _, w := range g.watches[c.Family] {
			w.fn(ev)
		}
	}
	for _, a := range fx.Answers {
		if ch := g.waiters[a.ID]; ch != nil {
			ch <- a
			delete(g.waiters, a.ID)
		}
	}
	for _, t := range fx.Timers {
		g.arm(t)
	}
	for _, k := range fx.Keeps {
		g.out = append(g.out, effect{keep: &k})
	}
}

// arm starts the timer t asks for. mu is held.
func (g *globals) arm(t db.Timer) {
	tm := new(timer)
	g.timers[tm] = struct{}{}
	tm.t = g.n.clk.AfterFunc(t.After, func() {
		g.do(func(st *db.State) {
			delete(g.timers, tm)
			st.Expire(t.Node, t.Gen)
		})
		g.pump()
	})
}

// pump carries out the queued sends and keeps, in order, unless another
// goroutine is doing so (which then does these too). No lock may be held.
func (g *globals) pump() {
	g.mu.Lock()
	if g.pumping {
		g.mu.Unlock()
		return
	}
	g.pumping = true
	for len(g.out) > 0 {
		out := g.out
		g.out = nil
		g.mu.Unlock()
		for _, e := range out {
			if e.keep != nil {
				g.n.keepLinked(e.keep.Node, e.keep.On)
			} else {
				g.n.sendOn(e.send.To, e.send.Token, e.send.Frame)
			}
		}
		g.mu.Lock()
	}
	g.pumping = false
	if g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// settle waits until every send and keep queued so far has been carried
// out, or ctx ends. A pump that finds another under way leaves its effects
// to it and returns; a node that closes settles before it flushes its
// links, so that the deletions its dying ports caused are on the wire.
func (g *globals) settle(ctx context.Context) {
	g.pump()
	g.mu.Lock()
	if !g.pumping {
		g.mu.Unlock()
		return
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// up and down are the links' inputs: called with the link's lock held,
// right after it changes its connection, so that they reach the State in
// the order the connections changed. The caller pumps after unlocking.
func (g *globals) up(peer string, token uint64) {
	g.do(func(st *db.State) { st.Up(peer, token) })
}

func (g *globals) down(peer string, token uint64) {
	g.do(func(st *db.State) { st.Down(peer, token) })
}

// receive takes a g_* request that arrived on connection token from peer.
func (g *globals) receive(peer string, token uint64, r aemp.Request) {
	var err error
	g.do(func(st *db.State) { err = st.Receive(peer, token, r) })
	g.pump()
	switch {
	case err == nil:
	case errors.Is(err, db.ErrNotGlobal):
		g.n.log.Debug("registry request for a global node", "from", peer, "tag", r.Tag)
	default:
		g.n.log.Warn("registry request refused", "from", peer, "tag", r.Tag, "err", err)
	}
}

// seed says node is the seed of that rank.
func (g *globals) seed(node string, rank int) {
	g.do(func(st *db.State) { st.Seed(node, rank) })
	g.pump()
}

// becomeGlobal makes this node global: it found itself among its seeds.
func (g *globals) becomeGlobal() {
	g.do(func(st *db.State) {
		if !st.Global() {
			g.n.log.Info("global node: found myself among my seeds")
		}
		st.BecomeGlobal()
	})
	g.pump()
}

func (g *globals) Set(family, key string, value any) error {
	var err error
	g.do(func(st *db.State) { err = st.Set(family, key, value) })
	g.pump()
	return err
}

func (g *globals) Del(family string, keys ...string) {
	g.do(func(st *db.State) { st.Del(family, keys...) })
	g.pump()
}

func (g *globals) Family(ctx context.Context, family string) (map[string]any, error) {
	a, err := g.ask(ctx, func(st *db.State) uint64 { return st.Query(db.QueryFamily, family) })
	if err != nil {
		return nil, err
	}
	return a.Value.(map[string]any), nil
}

func (g *globals) Keys(ctx context.Context, family string) ([]string, error) {
	a, err := g.ask(ctx, func(st *db.State) uint64 { return st.Query(db.QueryKeys, family) })
	if err != nil {
		return nil, err
	}
	return a.Value.([]string), nil
}

func (g *globals) Values(ctx context.Context, family string) ([]any, error) {
	a, err := g.ask(ctx, func(st *db.State) uint64 { return st.Query(db.QueryValues, family) })
	if err != nil {
		return nil, err
	}
	return a.Value.([]any), nil
}

func (g *globals) Find(ctx context.Context, node string) ([]string, bool, error) {
	a, err := g.ask(ctx, func(st *db.State) uint64 { return st.Find(node) })
	if err != nil {
		return nil, false, err
	}
	addrs, _ := a.Value.([]string)
	return addrs, !a.Missing, nil
}

// ask runs a query or lookup and waits for its answer, ctx, or Close.
func (g *globals) ask(ctx context.Context, q func(st *db.State) uint64) (db.Answer, error) {
	ch := make(chan db.Answer, 1)
	var id uint64
	if !g.do(func(st *db.State) { id = q(st); g.waiters[id] = ch }) {
		return db.Answer{}, ErrNodeClosed
	}
	g.pump()
	select {
	case a := <-ch:
		return a, a.Err
	case <-ctx.Done():
	}
	g.mu.Lock()
	noMaster := g.st.Master() == ""
	g.st.Cancel(id)
	delete(g.waiters, id)
	g.mu.Unlock()
	select {
	case a := <-ch: // answered meanwhile
		return a, a.Err
	default:
	}
	if noMaster {
		return db.Answer{}, fmt.Errorf("%w (no registry master: not linked to any seed)", ctx.Err())
	}
	return db.Answer{}, ctx.Err()
}

func (g *globals) Watch(family string, fn func(RegistryEvent)) func() {
	w := &regWatch{fn: fn}
	g.do(func(st *db.State) {
		g.watches[family] = append(g.watches[family], w)
		if data, ok := st.Monitor(family); ok {
			fn(RegistryEvent{Full: true, Data: data})
		}
	})
	g.pump()
	return func() {
		g.do(func(st *db.State) {
			ws := g.watches[family]
			i := slices.Index(ws, w)
			if i < 0 {
				return
			}
			if ws = slices.Delete(ws, i, i+1); len(ws) == 0 {
				delete(g.watches, family)
			} else {
				g.watches[family] = ws
			}
			st.Unmonitor(family)
		})
		g.pump()
	}
}

// Close fails the waiting calls and stops the timers.
func (g *globals) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for id, ch := range g.waiters {
		ch <- db.Answer{ID: id, Err: ErrNodeClosed}
	}
	clear(g.waiters)
	for t := range g.timers {
		t.t.Stop()
	}
	clear(g.timers)
	g.out = nil
	return nil
}

// sendOn sends frame to node's node port on connection token, if that is
// still the link's connection; otherwise the frame is dropped.
func (n *Node) sendOn(node string, token uint64, frame []any) {
	l := n.linkTo(node, false)
	if l == nil || token == 0 {
		return
	}
	if c := l.current(); c != nil && c.id == token {
		c.send(aemp.NodePort, frame[1:], false)
	}
}
