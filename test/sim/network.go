package sim

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherkit/tether/clock"
)

// Latency is the one-way delay of a segment, drawn uniformly from [Min, Max]
// (exactly Min when Max <= Min). The zero value means no delay.
type Latency struct{ Min, Max time.Duration }

// draw returns a delay drawn from r.
func (l Latency) draw(r *clock.Rand) time.Duration {
	lo := max(l.Min, 0)
	if l.Max <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(l.Max-lo)+1))
}

func (l Latency) String() string {
	if l.Max <= l.Min {
		return max(l.Min, 0).String()
	}
	return fmt.Sprintf("%v..%v", max(l.Min, 0), l.Max)
}

// Config configures a Network. The zero value is a network on the real clock
// with no delay, a 64 KiB window, a backlog of 128 and seed 0.
type Config struct {
	// Seed drives every random draw of the network and of the streams of
	// Network.Rand and Host.Rand.
	Seed uint64
	// Latency is the default one-way delay between any two hosts (and
	// within one host); SetLatency overrides it per pair.
	Latency Latency
	// Window bounds, per direction of a connection, the bytes in flight plus
	// the bytes delivered but not yet read. A writer blocks while it is full.
	// Zero or less means 64 KiB.
	Window int
	// Backlog bounds the connections a listener holds before Accept; a SYN
	// beyond it is refused. Zero or less means 128.
	Backlog int
	// Clock is the time source the scheduler sleeps on; the network's clock
	// and the hosts' clocks read it. Nil means clock.Real(), which inside a
	// synctest bubble is the bubble's fake time.
	Clock clock.Clock
	// Quiesce, when set, is called by the scheduler before each step and
	// must return once every other goroutine of the program under test is
	// blocked. Test sets it to synctest.Wait. Without it the network is still
	// correct, but the program races with the scheduler, so the trace may
	// differ between runs.
	Quiesce func()
	// OnEvent, when set, receives every Event, from the scheduler goroutine,
	// in order. It must not block on the network (no Dial, Read, Write or
	// Wait); it may call fault methods such as Partition.
	OnEvent func(Event)
}

// Network is a simulated network of named hosts. Its methods are safe for
// concurrent use. Make one with New (or Test) and Close it when done: a
// scheduler goroutine runs until then.
type Network struct {
	cfg      Config
	clock    clock.Clock // the base clock
	start    time.Time
	root     *clock.Rand
	internal *clock.Rand
	window   int
	backlog  int
	clk      *simClock   // the network's own clock
	report   func(error) // set by Test: reports a violation at once

	wake    chan struct{}      // capacity 1: something changed, re-plan
	waitReq chan chan struct{} // Wait asks the scheduler to report quiescence
	closed  chan struct{}      // closed by Close
	done    chan struct{}      // closed when the scheduler has exited

	closeOnce  sync.Once
	inCallback atomic.Bool // the scheduler is running an After, OnEvent or invariant callback

	mu       sync.Mutex // short sections only; never held while blocking
	closing  bool
	machines map[string]*machine
	hosts    []*Host // every incarnation ever made
	conns    map[ConnID]*conn
	queue    queue
	afterSeq uint64
	timers   uint64                // timers set on the network's clock
	latency  map[[2]string]Latency // by sorted pair of host names
	cut      map[[2]string]bool    // partitioned directions, from → to

	packetFaults map[[2]string]PacketFaults // by sorted pair of host names
	events       []Event                    // not yet reported to OnEvent
	record       bool                       // events are wanted: OnEvent or invariants

	// While the scheduler runs a step, the goroutines it wakes are woken
	// only after OnEvent has seen the step's events, so that the trace never
	// races with what the step caused.
	stepping bool
	wakeups  []chan struct{}

	// Invariants (invariant.go). Guarded by mu, except stepLog, which only
	// the scheduler touches.
	checks    []invariant
	steps     int
	violation *Violation
	stepLog   []Event
}

// release closes ch, which a blocked goroutine waits on: at once, or at the end
// of the scheduler's current step. n.mu is held.
func (n *Network) release(ch chan struct{}) {
	if n.stepping {
		n.wakeups = append(n.wakeups, ch)
		return
	}
	close(ch)
}

// New makes a network and starts its scheduler goroutine. Inside a synctest
// bubble, call it from within the bubble, set Quiesce to synctest.Wait (or use
// Test), and Close the network before the bubble ends. A bubble can hold only
// one network whose Quiesce is synctest.Wait, since Wait must not run in two
// goroutines at once.
func New(cfg Config) *Network { return newNetwork(cfg, nil) }

func newNetwork(cfg Config, report func(error)) *Network {
	if cfg.Window <= 0 {
		cfg.Window = 64 << 10
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 128
	}
	c := clock.Or(cfg.Clock)
	root := clock.NewRand(cfg.Seed)
	n := &Network{
		cfg:      cfg,
		clock:    c,
		start:    c.Now(),
		root:     root,
		internal: root.Derive("sim"),
		window:   cfg.Window,
		backlog:  cfg.Backlog,
		report:   report,
		wake:     make(chan struct{}, 1),
		waitReq:  make(chan chan struct{}),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
		machines: make(map[string]*machine),
		conns:    make(map[ConnID]*conn),
		latency:  make(map[[2]string]Latency),
		cut:      make(map[[2]string]bool),
		record:   cfg.OnEvent != nil,

		packetFaults: make(map[[2]string]PacketFaults),
	}
	n.clk = &simClock{n: n}
	go n.run()
	return n
}

// Test runs f in a new synctest bubble with a network made from cfg, whose
// Quiesce defaults to synctest.Wait, and closes the network when f returns.
// Inside f, use n.Wait instead of synctest.Wait: the scheduler already calls
// synctest.Wait, which must not run in two goroutines at once. An invariant
// that fails (see Network.Invariant) fails t at once, with the trace of the
// step that broke it.
func Test(t *testing.T, cfg Config, f func(t *testing.T, n *Network)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		if cfg.Quiesce == nil {
			cfg.Quiesce = synctest.Wait
		}
		n := newNetwork(cfg, func(err error) { t.Error(err) })
		defer n.Close()
		f(t, n)
	})
}

// Host returns the running incarnation of the host called name: the one
// made on first use, or a new one if the last has crashed (see Crash).
// Names must be non-empty and contain no colon; Host panics otherwise.
func (n *Network) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.machineLocked(name)
	if m.cur == nil || m.cur.crashed {
		m.cur = n.bootLocked(m)
	}
	return m.cur
}

// machineLocked returns the machine called name, making it if need be.
// n.mu is held.
func (n *Network) machineLocked(name string) *machine {
	if name == "" || strings.ContainsRune(name, ':') {
		panic("sim: invalid host name " + `"` + name + `"`)
	}
	m := n.machines[name]
	if m == nil {
		m = &machine{name: name, nextPort: firstEphemeral}
		n.machines[name] = m
	}
	return m
}

// Clock returns the network's clock: the true time of the simulation,
// which the hosts' clocks (Host.Clock) read through their skew, and which
// Event.At and After count in. Its timers fire on the scheduler, each in a
// step of its own, as the hosts' timers do. Code that stands for no host in
// particular — a test's driver, a fault schedule — uses it.
func (n *Network) Clock() clock.Clock { return n.clk }

// Rand returns the random stream called name, derived from the network's
// seed, for the parts of a test that belong to no host (a driver, a fault
// schedule). The same name gives a stream that produces the same sequence;
// the name "sim" is reserved. Programs on a host take Host.Rand, which a
// restart renews.
func (n *Network) Rand(name string) *clock.Rand { return n.root.Derive(name) }

// After runs f on the scheduler goroutine once d has passed on the network's
// clock. Callbacks due at the same instant as timers and segments run before
// them, and among themselves in the order After was called. f must not block
// on the network (no Dial, Read, Write or Wait); it is meant for fault
// schedules: Partition, Heal, Reset, Crash, SetLatency, or starting
// goroutines (which run once f has returned).
func (n *Network) After(d time.Duration, f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return
	}
	n.afterSeq++
	n.push(&item{at: n.now() + max(d, 0), class: classCallback, seq: n.afterSeq, fn: f, index: -1})
}

// Wait returns once the network is quiet: every other goroutine of the
// program is blocked (as far as Quiesce can tell) and nothing is due at the
// current instant, so every delivery and timer due now has happened and its
// effects have settled. Time does not move. It is the network-aware
// synctest.Wait; use it instead of that inside Test. Outside a bubble (no
// Quiesce) it only waits until nothing is due. It must not be called from
// an After, OnEvent or invariant callback: the scheduler runs those and
// cannot answer (a bubble reports the deadlock). After Close it returns at
// once.
func (n *Network) Wait() {
	ch := make(chan struct{})
	select {
	case n.waitReq <- ch:
	case <-n.done:
		return
	}
	select {
	case <-ch:
	case <-n.done:
	}
}

// Close shuts the network down: the scheduler stops, queued segments,
// datagrams and callbacks are discarded, listeners and datagram sockets
// close (Accept and ReadFrom return an error wrapping net.ErrClosed),
// pending Dials fail with net.ErrClosed, and every connection is reset (Read
// and Write fail with ECONNRESET), so that every goroutine blocked in the
// network returns — those of crashed hosts too. The timers of crashed hosts
// fire at once, for the same reason; the other pending timers move to the
// base clock (Config.Clock), where they fire in its time, and so do timers
// set later, so that the program can wind down. (Inside a bubble, time
// stops when the test's function returns: stop what still sleeps before.)
// Later Dials and Listens fail. Close always returns nil. It returns once
// the scheduler has exited and OnEvent has seen every event, except while
// an After, OnEvent or invariant callback runs (Close may be called from
// one): then it returns without waiting, and the scheduler exits when the
// callback ends.
func (n *Network) Close() error {
	n.shutdown()
	if !n.inCallback.Load() {
		<-n.done
	}
	return nil
}

// shutdown is Close without the wait for the scheduler.
func (n *Network) shutdown() {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.closing = true
		close(n.closed)
		for _, h := range n.hosts {
			for _, port := range sortedKeys(h.listeners) {
				h.listeners[port].closeLocked()
			}
			for _, port := range sortedKeys(h.packets) {
				h.packets[port].closeLocked()
			}
		}
		for _, c := range n.sortedConns() {
			n.breakConn(c, net.ErrClosed, true)
		}
		for _, it := range n.queue {
			if it.class == classTimer {
				it.index = -1
				it.t.toBaseLocked()
			}
		}
		n.queue = nil
		for _, h := range n.hosts {
			for t := range h.suspended {
				t.fireLocked()
			}
			clear(h.suspended)
		}
	})
}

// now is the time since New on the base clock: the network's true time.
func (n *Network) now() time.Duration { return n.clock.Since(n.start) }

// poke wakes the scheduler to re-plan. It never blocks.
func (n *Network) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// push queues it and wakes the scheduler. n.mu is held.
func (n *Network) push(it *item) {
	if it.class == classSegment {
		it.c.pending++
	}
	n.queue.push(it)
	n.poke()
}

// sortedConns returns the connections in the order of their IDs. n.mu is
// held.
func (n *Network) sortedConns() []*conn {
	cs := make([]*conn, 0, len(n.conns))
	for _, c := range n.conns {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *conn) int { return a.id.compare(b.id) })
	return cs
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
