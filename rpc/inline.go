package rpc

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherkit/tether/clock"
)

// A call that arrives alone — nothing else read and waiting, nothing else
// being served on the connection — runs on the reader goroutine, and its
// reply goes to the socket from there too: no worker and no writer
// goroutine is woken on its way. A wake-up costs little on a busy machine
// but much on an idle one, where it means waking a sleeping thread on
// another CPU: most of a round trip's latency.
//
// While the handler runs, nothing else on the connection is read. So a
// watchdog takes over: a handler still running after one to two ticks of
// watchInterval gets a new goroutine to carry on reading, and the
// handler's goroutine ends when the handler does. A handler that blocks
// (on a lock, on a call back over this very connection) thus holds the
// connection's frames back by 2×watchInterval at most, and changes
// nothing else. And when a method's handler takes slowInline or longer on
// a reader, the method's next slowSkip lone calls go to workers, and then
// one runs on its reader again to see: a slow handler holds its connection
// back at one call in slowSkip+1, not at every one, and a handler that was
// slow once (a cold start, a pause of the machine) is soon back on the
// reader. The watchdog is one goroutine for the process; it ticks only
// while handlers run inline, and it arms no timer per call (arming one
// wakes a sleeping thread: the cost saved).
//
// The tick is coarse on purpose. While a timer is due within a few
// milliseconds, every thread that goes idle sleeps with a timeout, and on
// a virtual machine arming that timeout each time costs a round trip
// several µs: at a 2 ms tick, rpc c1 with both processes on one CPU read
// p50 38.8 µs against 32.4 µs without the tick (8 alternating runs).
// At 20 ms the difference is gone. (Left to place the two processes
// itself, that VM's kernel gave the 2 ms tick the better median, 39
// against 52 µs: frequent wake-ups keep an idle virtual CPU quick to wake,
// which is the hypervisor's business, not a reason to tick.)
//
// Only connections on a socket serve inline (as only they write from the
// caller): on a simulated network the watchdog's real time would make runs
// differ.

// watchInterval is the watchdog's tick.
const watchInterval = 20 * time.Millisecond

// slowInline is how long a handler may run on a reader before its
// method's next slowSkip lone calls go to workers.
const (
	slowInline = time.Millisecond
	slowSkip   = 64
)

// errHandedOff ends a reader goroutine whose reading another one took
// over.
var errHandedOff = errors.New("rpc: reading handed over")

// inliner is a connection's inline serving. Its state is a run's number
// and the run's phase (the low two bits): the watchdog takes over from a
// run it sees running at two ticks.
type inliner struct {
	ok    bool          // the connection serves inline
	state atomic.Uint64 // run<<2 | phase
	run   uint64        // the reader's count of its inline runs (the reader's own)
	seen  uint64        // the state the watchdog saw at its last tick (its own)
	job   job           // the call to run once its frame is consumed (the reader's own)
	has   bool          // job is set
}

// The phases of an inline run.
const (
	phaseIdle    = 0 // no handler runs on the reader
	phaseRunning = 1 // a handler runs on the reader
	phaseTaken   = 2 // and the watchdog started another reader
)

// runInline runs the call the reader set aside, on the reader, and
// reports whether this goroutine is still the reader.
func (c *Conn) runInline() bool {
	j := c.inline.job
	c.inline.job, c.inline.has = job{}, false
	c.inline.run++
	running, idle := c.inline.run<<2|phaseRunning, c.inline.run<<2|phaseIdle
	c.inline.state.Store(running)
	dog.busy()
	start := c.now()
	c.runJob(j, true)
	if c.now()-start >= slowInline {
		j.h.skip.Store(slowSkip)
	}
	// One of this and the watchdog's CompareAndSwap wins: the reader is
	// either this goroutine still, or the one the watchdog started (and
	// then c.inline is that one's).
	return c.inline.state.CompareAndSwap(running, idle)
}

// watchdog is the process's one watchdog over inline handlers.
type watchdog struct {
	mu      sync.Mutex
	conns   map[*Conn]struct{} // the connections that serve inline
	running bool               // the goroutine runs
	kick    chan struct{}      // capacity 1: wakes a parked goroutine
	parked  atomic.Bool        // no handler has run inline lately: no ticks
	active  atomic.Bool        // a handler ran inline since the last tick
}

var dog = watchdog{kick: make(chan struct{}, 1)}

// add registers c, which serves inline.
func (d *watchdog) add(c *Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conns == nil {
		d.conns = make(map[*Conn]struct{})
	}
	d.conns[c] = struct{}{}
	if !d.running {
		d.running = true
		d.parked.Store(true)
		go d.run()
	}
}

// remove forgets c; the goroutine ends with the last connection.
func (d *watchdog) remove(c *Conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
	d.wake()
}

// busy notes that a handler runs inline, and wakes a parked watchdog.
func (d *watchdog) busy() {
	if !d.active.Load() {
		d.active.Store(true)
	}
	if d.parked.Load() && d.parked.CompareAndSwap(true, false) {
		d.wake()
	}
}

func (d *watchdog) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// idleTicks is how many ticks without inline work park the watchdog.
const idleTicks = 50

func (d *watchdog) run() {
	var t clock.Ticker
	idle := 0
	for {
		if d.parked.Load() {
			if t != nil {
				t.Stop()
				t = nil
			}
			if d.done() {
				return
			}
			<-d.kick
			continue
		}
		if t == nil {
			t = clock.Real().NewTicker(watchInterval)
		}
		select {
		case <-t.Chan():
		case <-d.kick:
			if d.done() {
				t.Stop()
				return
			}
			continue
		}
		if d.tick() || d.active.Swap(false) {
			idle = 0
		} else if idle++; idle >= idleTicks {
			idle = 0
			d.parked.Store(true)
			if d.active.Load() { // a handler started as we parked
				d.parked.Store(false)
			}
		}
	}
}

// done reports whether no connection serves inline any more, and if so
// marks the goroutine gone.
func (d *watchdog) done() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.conns) > 0 {
		return false
	}
	d.running = false
	return true
}

// tick takes over from the handlers that have run inline since the last
// tick or longer, and reports whether any handler runs inline.
func (d *watchdog) tick() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	any := false
	for c := range d.conns {
		if c.role.ok {
			if st := c.role.state.Load(); st&3 == roleFree {
				any = true
				if st == c.role.seen {
					c.reclaimFrom(st)
				}
				c.role.seen = st
			}
			continue
		}
		st := c.inline.state.Load()
		if st&3 != phaseRunning {
			continue
		}
		any = true
		if st != c.inline.seen {
			c.inline.seen = st
			continue
		}
		if c.inline.state.CompareAndSwap(st, st&^3|phaseTaken) {
			go c.readLoop()
		}
	}
	return any
}
