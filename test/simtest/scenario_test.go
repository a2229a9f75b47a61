package simtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

const ms = time.Millisecond

// The scenario's shape.
var (
	hostNames = []string{"n1", "n2", "n3", "n4", "n5"}
	netConfig = sim.Config{Latency: sim.Latency{Min: ms, Max: 30 * ms}}
)

const (
	faultsFrom = 500 * ms // the fault schedule runs from here…
	faultsTo   = 6 * time.Second
	healAt     = 6 * time.Second // …and everything heals here
	stopAt     = 7 * time.Second // the streams and drivers stop here
	checkAt    = 9 * time.Second // and everything must have arrived here
	maxCrashes = 2
	maxSkew    = 0.05 // clock drift, either way
)

// world is one run of the scenario: the nodes, their incarnations, the
// fault schedule, the checker.
type world struct {
	t   *testing.T
	n   *sim.Network
	chk *checker

	ctx  context.Context // ends when the drivers are to stop
	stop context.CancelFunc

	mu       sync.Mutex
	cur      map[string]*inst // the running incarnation of each host; nil while it is down
	all      []*inst
	nextCall int64
	crashes  int
	stopping bool // no more streams and calls
	quiet    bool // tearing down: no more logging
}

// inst is one incarnation of a node.
type inst struct {
	w     *world
	h     *sim.Host
	key   string // "n3/1": host and incarnation
	nd    *node.Node
	rnd   *clock.Rand // the driver's
	st    *streamer
	adder string

	calls sync.WaitGroup
	mu    sync.Mutex
	done  []outcome // calls returned, not yet logged
}

type outcome struct {
	id     int64
	to     string
	result string
}

// scenario runs the scenario on n, with chk's invariants checked after
// every step. Its times (faultsFrom…checkAt) count from the moment the
// nodes know each other.
func scenario(t *testing.T, n *sim.Network, chk *checker) {
	w := &world{t: t, n: n, chk: chk, cur: make(map[string]*inst)}
	w.ctx, w.stop = context.WithCancel(context.Background())
	defer w.stop()
	n.Invariant("streams, calls and port IDs", chk.check)

	// Clocks: each host's runs up to 5 % fast or slow, and a little off.
	skews := n.Rand("skew")
	for _, name := range hostNames {
		n.SetSkew(name, sim.Skew{
			Offset: time.Duration(skews.Int64N(int64(2*time.Second))) - time.Second,
			Drift:  (2*skews.Float64() - 1) * maxSkew,
		})
	}
	for _, name := range hostNames {
		w.start(name)
	}
	// Every node learns every other's address, one AddNode at a time.
	for _, name := range hostNames {
		w.cur[name].addNodes(w.othersOf(name))
	}
	for _, name := range hostNames {
		w.cur[name].begin()
	}
	w.schedule(n.Rand("faults"))

	n.After(stopAt, func() {
		w.mu.Lock()
		w.stopping = true
		w.mu.Unlock()
	})
	n.Clock().Sleep(checkAt)
	n.Logf("settled")
	if err := chk.final(); err != nil {
		t.Errorf("after healing and settling:\n%s", err)
	}
	w.liveness()

	// Tear down: no more logging; the drivers stop, the nodes close.
	// Crashed ones are told to close but not waited for: what they wait
	// on is frozen, and only the network's Close releases all of it.
	chk.stop()
	w.mu.Lock()
	w.quiet = true
	all := slices.Clone(w.all)
	w.mu.Unlock()
	w.stop()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for _, x := range slices.Backward(all) {
		if x.h.Crashed() {
			x.nd.Close(gone)
		} else {
			x.nd.Close(context.Background())
		}
	}
	for _, x := range all {
		if !x.h.Crashed() {
			x.calls.Wait()
		}
	}
	// The calls of crashed incarnations return as the network closes.
}

// logf logs a line of host h, unless the world is tearing down.
func (w *world) logf(h *sim.Host, format string, args ...any) {
	w.mu.Lock()
	quiet := w.quiet
	w.mu.Unlock()
	if !quiet {
		h.Logf(format, args...)
	}
}

// isStopping reports whether the streams and calls are to stop.
func (w *world) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

// othersOf returns the running hosts other than name, in order.
func (w *world) othersOf(name string) []*inst {
	w.mu.Lock()
	defer w.mu.Unlock()
	var xs []*inst
	for _, other := range hostNames {
		if x := w.cur[other]; x != nil && other != name {
			xs = append(xs, x)
		}
	}
	return xs
}

// start starts a node on the running incarnation of host name.
func (w *world) start(name string) *inst {
	h := w.n.Host(name)
	x := &inst{w: w, h: h, key: h.String(), rnd: h.Rand("driver")}
	nd, err := node.Start(context.Background(), node.Config{
		ID:               name,
		Binds:            []string{name + ":4000"},
		Secret:           "simtest",
		Transport:        h.Transport(),
		Clock:            h.Clock(),
		Rand:             h.Rand("node"),
		Shards:           1,
		Heartbeat:        300 * ms,
		HeartbeatTimeout: time.Second,
		ConnectTimeout:   time.Second,
		// Short: a handshake stalled by a lost segment (a one-way
		// partition leaves no RST) keeps the node with the smaller ID
		// from dialling its peer until it times out; with the default
		// 30 s the nodes would not reconnect within the run (seed 78).
		HandshakeTimeout: time.Second,
		Hostname:         name,
	})
	if err != nil {
		w.t.Errorf("start %s: %v", x.key, err)
		return nil
	}
	x.nd = nd
	nd.MonitorNodes(func(peer string, up bool, reason []any) {
		w.logf(h, "node %s up=%v %s", peer, up, node.FormatReason(reason))
	})
	nd.Register("sink", x.sink)
	x.adder = nd.Port(x.add)
	w.chk.newPort(x.adder, x.key)
	x.st = &streamer{x: x, rnd: h.Rand("streamer")}
	x.st.port = nd.Port(x.st.tick)
	w.chk.newPort(x.st.port, x.key)
	w.mu.Lock()
	w.cur[name] = x
	w.all = append(w.all, x)
	w.mu.Unlock()
	w.logf(h, "started %s, adder %s", x.key, x.adder)
	return x
}

// addNodes tells x the addresses of others, one at a time. A node learns
// an address only from an AddNode that succeeds, so a failed one (across
// a partition, say) is tried again a little later, until the teardown.
func (x *inst) addNodes(others []*inst) {
	for _, o := range others {
		for {
			ctx, cancel := clock.WithTimeout(context.Background(), x.h.Clock(), time.Second)
			_, err := x.nd.AddNode(ctx, o.h.Name()+":4000")
			cancel()
			// Not logged: the node's executor may log the link coming
			// up at this very step, and the two would race.
			if err == nil {
				break
			}
			if clock.Sleep(x.w.ctx, x.h.Clock(), 100*ms) != nil {
				break
			}
		}
	}
}

// begin starts x's streamer and driver, each after a random delay.
func (x *inst) begin() {
	x.nd.After(time.Duration(x.rnd.Int64N(int64(100*ms))), x.st.port, "tick")
	go x.drive()
}

// drive is x's driver: at random intervals it logs the calls that
// returned, and mostly makes a call to another node.
func (x *inst) drive() {
	clk := x.h.Clock()
	for {
		if clock.Sleep(x.w.ctx, clk, 20*ms+time.Duration(x.rnd.Int64N(int64(130*ms)))) != nil {
			return
		}
		x.report()
		if x.rnd.IntN(10) < 7 && !x.w.isStopping() {
			x.call()
		}
	}
}

// report logs the calls that returned since the last report, by ID: they
// return on goroutines of their own, in any order.
func (x *inst) report() {
	x.mu.Lock()
	done := x.done
	x.done = nil
	x.mu.Unlock()
	sort.Slice(done, func(i, j int) bool { return done[i].id < done[j].id })
	for _, o := range done {
		x.w.logf(x.h, "call %d to %s: %s", o.id, o.to, o.result)
	}
}

// call makes a call to the adder of another running node, with a deadline
// or without, on a goroutine of its own.
func (x *inst) call() {
	others := x.w.othersOf(x.h.Name())
	if len(others) == 0 {
		return
	}
	to := others[x.rnd.IntN(len(others))]
	x.w.mu.Lock()
	x.w.nextCall++
	id := x.w.nextCall
	x.w.mu.Unlock()
	arg := x.rnd.Int64N(1000)
	var deadline time.Duration
	if x.rnd.IntN(2) == 0 {
		deadline = 50*ms + time.Duration(x.rnd.Int64N(int64(time.Second)))
	}
	x.w.chk.callBegun(id, x.key, to.key, arg, deadline > 0)
	x.calls.Go(func() {
		// Without a deadline, still cancellable: the teardown releases
		// a call that hangs (the checker has reported it by then).
		ctx := x.w.ctx
		if deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = clock.WithTimeout(ctx, x.h.Clock(), deadline)
			defer cancel()
		}
		reply, err := x.nd.Call(ctx, to.adder, "add", id, arg)
		x.w.chk.returned(id, reply, err)
		result := fmt.Sprint(reply)
		var ke *node.KilledError
		switch {
		case errors.As(err, &ke):
			result = "killed: " + node.FormatReason(ke.Reason)
		case err != nil:
			result = err.Error()
		}
		x.mu.Lock()
		x.done = append(x.done, outcome{id, to.key, result})
		x.mu.Unlock()
	})
}

// add is the adder: ("add", id, arg, reply) gets ("sum", id, arg+1000).
func (x *inst) add(c *node.Context, msg []any) error {
	if len(msg) != 4 || msg[0] != "add" {
		return fmt.Errorf("adder: unexpected %v", msg)
	}
	id := toInt(msg[1])
	x.w.chk.handled(id, x.key)
	c.Send(msg[3].(string), "sum", id, toInt(msg[2])+1000)
	return nil
}

// sink is the init function of a stream's sink: it records the messages.
func (x *inst) sink(c *node.Context, args []any) error {
	k := epochKey{stream: args[0].(string), n: toInt(args[1])}
	x.w.chk.sinkBorn(k, c.Self(), x.key)
	c.SetDefault(func(c *node.Context, msg []any) error {
		x.w.chk.received(k, toInt(msg[1]), x.key)
		return nil
	})
	return nil
}

// streamer sends numbered messages from one node to a sink it spawns on
// another, under a monitor: an epoch. A new epoch begins when the monitor
// fires, and now and then the streamer ends one on purpose (it stops the
// monitor and kills the sink). It runs in its port's context, on node.After
// ticks.
type streamer struct {
	x     *inst
	port  string
	rnd   *clock.Rand
	epoch int64
	cur   *running
}

type running struct {
	k     epochKey
	sink  string
	to    string
	guard node.Guard
	sent  int64
	limit int64
}

func (s *streamer) tick(c *node.Context, _ []any) error {
	x := s.x
	if x.w.isStopping() {
		if r := s.cur; r != nil {
			x.w.logf(x.h, "stream %v to %s: stops after %d", r.k, r.to, r.sent)
		}
		return nil
	}
	if s.cur == nil {
		s.begin(c)
	}
	if r := s.cur; r != nil {
		for k := 1 + s.rnd.IntN(3); k > 0; k-- {
			r.sent++
			x.w.chk.sent(r.k, r.sent)
			c.Send(r.sink, "msg", r.sent)
		}
		if r.sent >= r.limit {
			r.guard.Stop()
			x.nd.Kill(r.sink)
			x.w.chk.rotated(r.k)
			x.w.logf(x.h, "stream %v to %s: ends after %d", r.k, r.to, r.sent)
			s.cur = nil
		}
	}
	x.nd.After(30*ms+time.Duration(s.rnd.Int64N(int64(100*ms))), s.port, "tick")
	return nil
}

// begin begins an epoch: a sink on another running node, and a monitor.
func (s *streamer) begin(c *node.Context) {
	x := s.x
	others := x.w.othersOf(x.h.Name())
	if len(others) == 0 {
		return
	}
	to := others[s.rnd.IntN(len(others))]
	s.epoch++
	k := epochKey{stream: x.key, n: s.epoch}
	sink := x.nd.Spawn(to.h.Name(), "sink", k.stream, k.n)
	x.w.chk.newPort(sink, x.key+" (spawned on "+to.key+")")
	x.w.chk.beginEpoch(k, sink, to.key)
	r := &running{k: k, sink: sink, to: to.key, limit: 20 + s.rnd.Int64N(60)}
	r.guard = c.Monitor(sink, node.Func(func(reason []any) {
		x.w.chk.fired(k)
		x.w.logf(x.h, "stream %v to %s: monitor fired after %d: %s", k, to.key, r.sent, node.FormatReason(reason))
		if s.cur == r {
			s.cur = nil
		}
	}))
	s.cur = r
	x.w.logf(x.h, "stream %v to %s: begins, sink %s", k, to.key, sink)
}

// schedule sets the fault schedule: at least one fault of every kind —
// partition, one-way partition, reset, latency change, crash and restart —
// and more at random, between faultsFrom and faultsTo; each partition
// heals after a while, and everything heals at healAt.
func (w *world) schedule(r *clock.Rand) {
	n := w.n
	kinds := []string{"partition", "oneway", "reset", "latency", "crash"}
	for range 4 + r.IntN(8) {
		kinds = append(kinds, kinds[r.IntN(5)])
	}
	at := func() time.Duration {
		return faultsFrom + time.Duration(r.Int64N(int64(faultsTo-faultsFrom)))
	}
	pick2 := func() (string, string) {
		i := r.IntN(len(hostNames))
		j := (i + 1 + r.IntN(len(hostNames)-1)) % len(hostNames)
		return hostNames[i], hostNames[j]
	}
	for _, kind := range kinds {
		t := at()
		a, b := pick2()
		heal := time.Duration(r.Int64N(int64(1500 * ms)))
		switch kind {
		case "partition":
			n.After(t, func() { n.Partition(a, b) })
			n.After(t+heal, func() { n.Heal(a, b) })
		case "oneway":
			n.After(t, func() { n.PartitionOneWay(a, b) })
			n.After(t+heal, func() { n.Heal(a, b) })
		case "reset":
			n.After(t, func() { n.Reset(a, b) })
		case "latency":
			l := sim.Latency{Min: time.Duration(r.Int64N(int64(20 * ms)))}
			l.Max = l.Min + time.Duration(r.Int64N(int64(100*ms)))
			n.After(t, func() { n.SetLatency(a, b, l) })
			n.After(t+heal, func() { n.SetLatency(a, b, netConfig.Latency) })
		case "crash":
			down := 200*ms + time.Duration(r.Int64N(int64(1500*ms)))
			n.After(t, func() { w.crash(a, down) })
		}
	}
	n.After(healAt, n.HealAll)
}

// crash crashes host name, unless it is down or enough hosts have
// crashed, and restarts it after down.
func (w *world) crash(name string, down time.Duration) {
	w.mu.Lock()
	x := w.cur[name]
	if x == nil || w.crashes == maxCrashes {
		w.mu.Unlock()
		return
	}
	w.crashes++
	w.cur[name] = nil
	w.mu.Unlock()
	w.chk.crashed(x.key)
	w.n.Crash(name)
	w.n.After(down, func() {
		go func() {
			x := w.start(name)
			if x == nil {
				return
			}
			// It learns where the others are, and they where it is
			// (a node restarted meanwhile may not know).
			others := w.othersOf(name)
			x.addNodes(others)
			for _, o := range others {
				o.addNodes([]*inst{x})
			}
			x.begin()
		}()
	})
}

// liveness checks that, healed and settled, every running node answers a
// call from every other.
func (w *world) liveness() {
	var xs []*inst
	for _, name := range hostNames {
		if x := w.cur[name]; x != nil {
			xs = append(xs, x)
		}
	}
	var problems []string
	for _, from := range xs {
		for _, to := range xs {
			if from == to {
				continue
			}
			w.mu.Lock()
			w.nextCall++
			id := w.nextCall
			w.mu.Unlock()
			w.chk.callBegun(id, from.key, to.key, 0, true)
			ctx, cancel := clock.WithTimeout(context.Background(), from.h.Clock(), 5*time.Second)
			reply, err := from.nd.Call(ctx, to.adder, "add", id, int64(0))
			cancel()
			w.chk.returned(id, reply, err)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s → %s: %v, %v", from.key, to.key, reply, err))
			}
		}
	}
	if problems != nil {
		w.t.Errorf("healed and settled, some calls fail:\n%s", strings.Join(problems, "\n"))
	}
}
