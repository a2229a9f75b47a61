package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/tetherkit/tether/clock"
)

// Skew is how a host's clock differs from the network's: see
// Network.SetSkew.
type Skew struct {
	// Offset is how far the host's clock reads ahead of the network's
	// (behind, if negative) at the moment the skew is set.
	Offset time.Duration
	// Drift is the host clock's rate error from then on: 0.05 runs 5 %
	// fast, -0.05 5 % slow. It must lie in (-1, 1).
	Drift float64
}

func (s Skew) String() string {
	return fmt.Sprintf("%+v %+.4f", s.Offset, s.Drift)
}

// frame maps the network's time (since New) to a host clock's reading:
// host(t) = anchorHost + (t − anchorTrue)·(1 + drift).
type frame struct {
	anchorTrue, anchorHost time.Duration
	drift                  float64
}

// host is the host clock's reading at network time t ≥ anchorTrue.
func (f *frame) host(t time.Duration) time.Duration {
	d := t - f.anchorTrue
	if f.drift != 0 {
		d = time.Duration(float64(d) * (1 + f.drift))
	}
	return f.anchorHost + d
}

// trueAt is the earliest network time at which the host clock reads h or
// later (never before anchorTrue).
func (f *frame) trueAt(h time.Duration) time.Duration {
	d := max(h-f.anchorHost, 0)
	if f.drift == 0 {
		return f.anchorTrue + d
	}
	t := f.anchorTrue + time.Duration(math.Ceil(float64(d)/(1+f.drift)))
	for f.host(t) < h {
		t++
	}
	for t > f.anchorTrue && f.host(t-1) >= h {
		t--
	}
	return t
}

// simClock is a clock whose timers are the scheduler's: they fire one per
// step, in the canonical order of the queue, with the program settled in
// between. A host's clock reads the network's time through the host's
// skew; the network's own clock (h nil) reads it as it is.
type simClock struct {
	n *Network
	h *Host // nil: the network's clock
}

var _ clock.Clock = (*simClock)(nil)

// readLocked is the clock's reading as a duration since the network was
// made. n.mu is held.
func (c *simClock) readLocked() time.Duration {
	t := c.n.now()
	if c.h == nil {
		return t
	}
	return c.h.m.frame.host(t)
}

// trueAtLocked is the network time at which the clock reads due. n.mu is
// held.
func (c *simClock) trueAtLocked(due time.Duration) time.Duration {
	if c.h == nil {
		return due
	}
	return c.h.m.frame.trueAt(due)
}

func (c *simClock) Now() time.Time {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	return c.n.start.Add(c.readLocked())
}

func (c *simClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *simClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

func (c *simClock) Sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	<-c.NewTimer(d).Chan()
}

func (c *simClock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).Chan() }

func (c *simClock) NewTimer(d time.Duration) clock.Timer {
	t := &timer{clk: c, ch: make(chan time.Time, 1)}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	c.startLocked(t, d)
	return t
}

func (c *simClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &timer{clk: c, fn: f}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	c.startLocked(t, d)
	return t
}

func (c *simClock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("sim: non-positive interval for NewTicker")
	}
	t := &timer{clk: c, ch: make(chan time.Time, 1), period: d}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	c.startLocked(t, d)
	return ticker{t}
}

// timerState is where a timer is.
type timerState uint8

const (
	timerIdle      timerState = iota // fired or stopped
	timerQueued                      // in the scheduler's queue
	timerSuspended                   // its host crashed: it never fires while the network runs
	timerBase                        // on the base clock, since the network closed
)

// timer is a timer, ticker or AfterFunc of a simClock. All fields are
// guarded by n.mu.
type timer struct {
	clk    *simClock
	ch     chan time.Time // nil for AfterFunc
	fn     func()         // AfterFunc
	period time.Duration  // tickers: the clock's time between ticks
	due    time.Duration  // the clock's reading when it fires
	state  timerState
	it     item        // its queue entry while queued
	base   clock.Timer // while on the base clock
	gen    int         // counts base timers, so that a stale one does nothing
}

// startLocked arms t to fire once the clock has advanced by d. n.mu is held.
func (c *simClock) startLocked(t *timer, d time.Duration) {
	t.due = c.readLocked() + max(d, 0)
	c.armLocked(t)
}

// armLocked puts t, whose due is set, where it waits. n.mu is held.
func (c *simClock) armLocked(t *timer) {
	n := c.n
	switch {
	case n.closing:
		t.toBaseLocked()
	case c.h != nil && c.h.crashed:
		t.state = timerSuspended
		c.h.suspended[t] = struct{}{}
	default:
		var host string
		var seq uint64
		if c.h != nil {
			c.h.m.timers++
			host, seq = c.h.m.name, c.h.m.timers
		} else {
			n.timers++
			seq = n.timers
		}
		t.it = item{at: max(c.trueAtLocked(t.due), n.now()), class: classTimer, seq: seq, host: host, t: t, index: -1}
		t.state = timerQueued
		n.push(&t.it)
	}
}

// stopLocked disarms t and empties its channel; it reports whether t was
// armed. n.mu is held.
func (t *timer) stopLocked() bool {
	armed := true
	switch t.state {
	case timerQueued:
		t.clk.n.queue.remove(&t.it)
	case timerSuspended:
		delete(t.clk.h.suspended, t)
	case timerBase:
		armed = t.base.Stop()
		t.gen++
	default:
		armed = false
	}
	t.state = timerIdle
	if t.ch != nil {
		select {
		case <-t.ch:
		default:
		}
	}
	return armed
}

// fireLocked runs t, just taken off the queue (or due on the base clock):
// a value on its channel, its function in a goroutine of its own, and a
// ticker's next tick. n.mu is held.
func (t *timer) fireLocked() {
	c := t.clk
	now := c.readLocked()
	t.state = timerIdle
	if t.period > 0 {
		t.due = max(t.due+t.period, now+1)
		c.armLocked(t)
	}
	if t.ch != nil {
		select {
		case t.ch <- c.n.start.Add(now):
		default: // a tick not yet received: drop this one, as time.Ticker does
		}
	}
	if t.fn != nil {
		go t.fn()
	}
}

// toBaseLocked moves t to the base clock: the network has closed, and what
// the program still waits for must happen in its own time. n.mu is held.
func (t *timer) toBaseLocked() {
	n := t.clk.n
	t.state = timerBase
	t.gen++
	gen := t.gen
	d := t.clk.trueAtLocked(t.due) - n.now()
	t.base = n.clock.AfterFunc(max(d, 0), func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if t.state == timerBase && t.gen == gen {
			t.fireLocked()
		}
	})
}

func (t *timer) Chan() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	n := t.clk.n
	n.mu.Lock()
	defer n.mu.Unlock()
	return t.stopLocked()
}

func (t *timer) Reset(d time.Duration) bool {
	n := t.clk.n
	n.mu.Lock()
	defer n.mu.Unlock()
	armed := t.stopLocked()
	t.clk.startLocked(t, d)
	return armed
}

// ticker is a timer with a period, shaped as clock.Ticker.
type ticker struct{ t *timer }

func (k ticker) Chan() <-chan time.Time { return k.t.ch }
func (k ticker) Stop()                  { k.t.Stop() }
func (k ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic("sim: non-positive interval for Ticker.Reset")
	}
	n := k.t.clk.n
	n.mu.Lock()
	defer n.mu.Unlock()
	k.t.stopLocked()
	k.t.period = d
	k.t.clk.startLocked(k.t, d)
}

// SetSkew sets the clock of host name (see Host.Clock) from now on: it
// reads s.Offset ahead of the network's clock at once, and runs at rate
// 1+s.Drift from then on. The host's timers follow: a host timer of d fires
// after d/(1+Drift) of the network's time. The skew belongs to the machine:
// it lasts across crashes and restarts. SetSkew panics if Drift is not in
// (-1, 1).
func (n *Network) SetSkew(name string, s Skew) {
	if !(s.Drift > -1 && s.Drift < 1) {
		panic(fmt.Sprintf("sim: drift %v out of (-1, 1)", s.Drift))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.machineLocked(name)
	now := n.now()
	m.frame = frame{anchorTrue: now, anchorHost: now + s.Offset, drift: s.Drift}
	n.emit(Event{Kind: "skew", From: name, Text: s.String()})
	// The host's pending timers are due at other times now.
	for _, it := range n.queue {
		if it.class == classTimer && it.t.clk.h != nil && it.t.clk.h.m == m {
			it.at = max(m.frame.trueAt(it.t.due), now)
		}
	}
	n.queue.init()
}
