package clock

import (
	"time"

	"github.com/jonboulle/clockwork"
)

// Clock tells the time and makes timers. It is clockwork's interface, so a
// *clockwork.FakeClock (see [NewFake]) can stand in for the wall clock.
type Clock = clockwork.Clock

// Timer is a one-shot timer made by a [Clock].
type Timer = clockwork.Timer

// Ticker is a repeating timer made by a [Clock].
type Ticker = clockwork.Ticker

// Fake is a clock that moves only when Advance is called. Its timers fire in
// order of expiry; AfterFunc callbacks run in their own goroutine.
type Fake = clockwork.FakeClock

var real = clockwork.NewRealClock()

// Real returns the wall clock. Inside a testing/synctest bubble it reads the
// bubble's fake time.
func Real() Clock { return real }

// NewFake returns a fake clock that reads t until advanced. Prefer a fixed t
// over time.Now: the same start gives the same timestamps in every run.
func NewFake(t time.Time) *Fake { return clockwork.NewFakeClockAt(t) }

// Or returns c, or the real clock when c is nil. Components use it to give a
// nil Clock field the meaning "wall clock".
func Or(c Clock) Clock {
	if c == nil {
		return real
	}
	return c
}

// isReal reports whether c is the wall clock itself, so that standard
// library deadlines (which read the wall clock) are correct for it.
func isReal(c Clock) bool { return c == nil || c == real }

// Since returns the time elapsed on c since t. On the wall clock it is
// time.Since, which reads only the monotonic clock when t has a reading of
// it — half the cost of c.Since, which reads the wall clock too; it is for
// hot paths that time every operation.
func Since(c Clock, t time.Time) time.Duration {
	if isReal(c) {
		return time.Since(t)
	}
	return c.Since(t)
}
