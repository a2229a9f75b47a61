package sim

import (
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

// Config configures a Network. The zero value is a network on the real clock
// with no delay, a 64 KiB window, a backlog of 128 and seed 0.
type Config struct {
	// Seed drives every random draw of the network and of Network.Rand.
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
	// Clock is the network's time source: segment delays, deadlines and
	// Event.At use it. Nil means clock.Real(), which inside a synctest bubble
	// is the bubble's fake time.
	Clock clock.Clock
	// Quiesce, when set, is called by the scheduler before each delivery and
	// must return once every other goroutine of the program under test is
	// blocked. Test sets it to synctest.Wait. Without it the network is still
	// correct, but goroutines that wake at the same instant race with
	// deliveries, so the trace may differ between runs.
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
	clock    clock.Clock
	start    time.Time
	root     *clock.Rand
	internal *clock.Rand
	window   int
	backlog  int

	wake    chan struct{}      // capacity 1: something changed, re-plan
	waitReq chan chan struct{} // Wait asks the scheduler to report quiescence
	closed  chan struct{}      // closed by Close
	done    chan struct{}      // closed when the scheduler has exited

	closeOnce  sync.Once
	inCallback atomic.Bool // the scheduler is running an After or OnEvent callback

	mu       sync.Mutex // short sections only; never held while blocking
	closing  bool
	hosts    map[string]*Host
	conns    map[int]*conn
	lastConn int
	queue    queue
	afterSeq uint64
	latency  map[[2]string]Latency // by sorted pair of host names
	cut      map[[2]string]bool    // partitioned directions, from → to
	events   []Event               // not yet reported to OnEvent

	// While the scheduler delivers a segment or runs a callback, the
	// goroutines it wakes are woken only after OnEvent has seen the step's
	// events, so that the trace never races with what the step caused.
	stepping bool
	wakeups  []chan struct{}
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
func New(cfg Config) *Network {
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
		wake:     make(chan struct{}, 1),
		waitReq:  make(chan chan struct{}),
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
		hosts:    make(map[string]*Host),
		conns:    make(map[int]*conn),
		latency:  make(map[[2]string]Latency),
		cut:      make(map[[2]string]bool),
	}
	go n.run()
	return n
}

// Test runs f in a new synctest bubble with a network made from cfg, whose
// Quiesce defaults to synctest.Wait, and closes the network when f returns.
// Inside f, use n.Wait instead of synctest.Wait: the scheduler already calls
// synctest.Wait, which must not run in two goroutines at once.
func Test(t *testing.T, cfg Config, f func(t *testing.T, n *Network)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		if cfg.Quiesce == nil {
			cfg.Quiesce = synctest.Wait
		}
		n := New(cfg)
		defer n.Close()
		f(t, n)
	})
}

// Host returns the host called name, creating it on first use. Names must be
// non-empty and contain no colon; Host panics otherwise.
func (n *Network) Host(name string) *Host {
	if name == "" || strings.ContainsRune(name, ':') {
		panic("sim: invalid host name " + `"` + name + `"`)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.hosts[name]
	if h == nil {
		h = &Host{n: n, name: name, listeners: make(map[int]*listener), nextPort: firstEphemeral}
		n.hosts[name] = h
	}
	return h
}

// Clock returns the network's clock. Deadlines passed to a conn's
// SetDeadline are read on it: conn.SetDeadline(n.Clock().Now().Add(d)).
func (n *Network) Clock() clock.Clock { return n.clock }

// Rand returns the random stream called name, derived from the network's
// seed, for the components of the program under test. The same name gives a
// stream that produces the same sequence; the name "sim" is reserved.
func (n *Network) Rand(name string) *clock.Rand { return n.root.Derive(name) }

// After runs f on the scheduler goroutine once d has passed on the network's
// clock. Callbacks due at the same instant as segments run before them, and
// among themselves in the order After was called. f must not block on the
// network (no Dial, Read, Write or Wait); it is meant for fault schedules:
// Partition, Heal, Reset, SetLatency, or starting goroutines.
func (n *Network) After(d time.Duration, f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return
	}
	n.afterSeq++
	n.push(&item{at: n.now() + max(d, 0), seq: n.afterSeq, fn: f})
}

// Wait returns once the network is quiet: every other goroutine of the
// program is blocked (as far as Quiesce can tell) and nothing is due at the
// current instant, so every delivery due now has happened and its effects
// have settled. Time does not move. It is the network-aware synctest.Wait;
// use it instead of that inside Test. Outside a bubble (no Quiesce) it only
// waits until nothing is due. It must not be called from an After or OnEvent
// callback: the scheduler runs those and cannot answer (a bubble reports the
// deadlock). After Close it returns at once.
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

// Close shuts the network down: the scheduler stops, queued segments and
// callbacks are discarded, listeners close (Accept returns an error wrapping
// net.ErrClosed), pending Dials fail with net.ErrClosed, and every connection
// is reset (Read and Write fail with ECONNRESET), so that every goroutine
// blocked in the network returns. Later Dials and Listens fail. Close always
// returns nil. It returns once the scheduler has exited and OnEvent has seen
// every event, except while an After or OnEvent callback runs (Close may be
// called from one): then it returns without waiting, and the scheduler exits
// when the callback ends.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closing = true
		close(n.closed)
		for _, name := range sortedKeys(n.hosts) {
			h := n.hosts[name]
			for _, port := range sortedKeys(h.listeners) {
				h.listeners[port].closeLocked()
			}
		}
		for _, id := range sortedKeys(n.conns) {
			n.breakConn(n.conns[id], net.ErrClosed)
		}
		n.queue = nil
		n.mu.Unlock()
	})
	if !n.inCallback.Load() {
		<-n.done
	}
	return nil
}

// now is the time since New on the network's clock.
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
	if it.c != nil {
		it.c.pending++
	}
	n.queue.push(it)
	n.poke()
}

// block waits until ch is closed or the deadline dl (zero: none) passes on
// the network's clock.
func (n *Network) block(ch <-chan struct{}, dl time.Time) {
	if dl.IsZero() {
		<-ch
		return
	}
	d := dl.Sub(n.clock.Now())
	if d <= 0 {
		return
	}
	t := n.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.Chan():
	}
}

// expired reports whether the deadline dl is set and has passed.
func (n *Network) expired(dl time.Time) bool {
	return !dl.IsZero() && !n.clock.Now().Before(dl)
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
