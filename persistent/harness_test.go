package persistent_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/persistent"
)

// testConn is a connection the test controls. Its peer "closes" it with
// die; Close starts closing and, unless slow, finishes at once.
type testConn struct {
	name string
	slow bool // Close leaves finishing to finishClose

	mu     sync.Mutex
	closes int
	once   sync.Once
	done   chan struct{}
}

func newTestConn(name string) *testConn { return &testConn{name: name, done: make(chan struct{})} }

func (c *testConn) Close() error {
	c.mu.Lock()
	c.closes++
	c.mu.Unlock()
	if !c.slow {
		c.finishClose()
	}
	return nil
}

func (c *testConn) Done() <-chan struct{} { return c.done }
func (c *testConn) die()                  { c.finishClose() }
func (c *testConn) finishClose()          { c.once.Do(func() { close(c.done) }) }
func (c *testConn) String() string        { return c.name }

func (c *testConn) closeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closes
}

// harness drives one persistent connection inside a synctest bubble, on the
// bubble's fake clock, and records what it does, stamped with fake time.
//
// The bubble clock is the fake clock of choice here: when the test waits
// until some instant, time advances from timer to timer and every goroutine
// that a timer wakes runs to completion before the clock moves on, so
// timings are exact however far the test jumps.
type harness struct {
	t     *testing.T
	clk   clock.Clock
	start time.Time

	// resolve and connect script the attempts; n counts calls from 0.
	resolve func(n int) (string, error)
	connect func(ctx context.Context, n int, a string) (*testConn, error)
	onEvent func(persistent.Event[string, *testConn])

	mu           sync.Mutex
	events       []string
	resolveTimes []time.Duration
	connectTimes []time.Duration
	conns        []*testConn
	panics       []*persistent.PanicError

	pc *persistent.Conn[string, *testConn]
}

func newHarness(t *testing.T) *harness {
	clk := clock.Real() // fake inside the bubble
	h := &harness{t: t, clk: clk, start: clk.Now()}
	h.resolve = func(int) (string, error) { return "a", nil }
	h.connect = func(context.Context, int, string) (*testConn, error) { return h.newConn(), nil }
	return h
}

// config is the acceptance set-up: 10 s delay, no jitter, fake clock.
func (h *harness) config() persistent.Config[string, *testConn] {
	return persistent.Config[string, *testConn]{
		ServerName: "test",
		Resolver: addr.ResolverFunc[string](func(ctx context.Context) (string, error) {
			h.mu.Lock()
			n := len(h.resolveTimes)
			h.resolveTimes = append(h.resolveTimes, h.now())
			h.mu.Unlock()
			return h.resolve(n)
		}),
		Connect: func(ctx context.Context, a string) (*testConn, error) {
			h.mu.Lock()
			n := len(h.connectTimes)
			h.connectTimes = append(h.connectTimes, h.now())
			h.mu.Unlock()
			return h.connect(ctx, n, a)
		},
		OnEvent: func(e persistent.Event[string, *testConn]) {
			h.record(e)
			if h.onEvent != nil {
				h.onEvent(e)
			}
		},
		RetryDelay: persistent.Constant(10 * time.Second),
		Jitter:     persistent.NoJitter,
		Clock:      h.clk,
		Rand:       clock.NewRand(1),
		OnPanic: func(p *persistent.PanicError) {
			h.mu.Lock()
			h.panics = append(h.panics, p)
			h.mu.Unlock()
		},
	}
}

// start creates the persistent connection with cfg (h.config() if nil) and
// lets it run until it blocks. The test's cleanup closes it.
func (h *harness) run(cfg *persistent.Config[string, *testConn]) *persistent.Conn[string, *testConn] {
	h.t.Helper()
	if cfg == nil {
		c := h.config()
		cfg = &c
	}
	pc, err := persistent.New(*cfg)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.pc = pc
	h.t.Cleanup(func() { _ = pc.Close(context.Background()) })
	synctest.Wait()
	return pc
}

func (h *harness) newConn() *testConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := newTestConn(fmt.Sprintf("c%d", len(h.conns)+1))
	h.conns = append(h.conns, c)
	return c
}

func (h *harness) conn(i int) *testConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[i-1]
}

func (h *harness) now() time.Duration { return h.clk.Since(h.start) }

// advance lets d pass, and everything woken until then run until it blocks.
func (h *harness) advance(d time.Duration) {
	_ = clock.Sleep(context.Background(), h.clk, d)
	synctest.Wait()
}

// advanceTo lets time pass until at after the start of the test.
func (h *harness) advanceTo(at time.Duration) { h.advance(at - h.now()) }

func (h *harness) record(e persistent.Event[string, *testConn]) {
	var s string
	switch e.Kind {
	case event.AttemptingToConnect:
		s = "ATC"
	case event.ObtainedAddress:
		s = "OA(" + e.Addr + ")"
	case event.FailedToConnect:
		s = "FTC(" + e.Err.Error() + ")"
	case event.Connected:
		s = "C(" + e.Conn.name + ")"
	case event.Disconnected:
		s = "D"
	}
	h.mu.Lock()
	h.events = append(h.events, s)
	h.mu.Unlock()
}

// expectEvents checks the events so far, in order.
func (h *harness) expectEvents(want ...string) {
	h.t.Helper()
	h.mu.Lock()
	got := slices.Clone(h.events)
	h.mu.Unlock()
	if !slices.Equal(got, want) {
		h.t.Fatalf("at %v events are\n  %s\nwant\n  %s", h.now(), strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

func (h *harness) counts() (resolves, connects int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.resolveTimes), len(h.connectTimes)
}

func (h *harness) expectCounts(resolves, connects int) {
	h.t.Helper()
	r, c := h.counts()
	if r != resolves || c != connects {
		h.t.Fatalf("at %v: %d resolves and %d connects, want %d and %d", h.now(), r, c, resolves, connects)
	}
}

func (h *harness) expectCurrent(want *testConn) {
	h.t.Helper()
	got, ok := h.pc.CurrentConnection()
	if want == nil && ok {
		h.t.Fatalf("at %v CurrentConnection() = %v, want none", h.now(), got)
	}
	if want != nil && (!ok || got != want) {
		h.t.Fatalf("at %v CurrentConnection() = %v, %v; want %v", h.now(), got, ok, want)
	}
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// pending reports whether ch has no value yet, after letting goroutines run.
func pending[T any](ch <-chan T) bool {
	synctest.Wait()
	return len(ch) == 0
}

func failWith(msg string) func(context.Context, int, string) (*testConn, error) {
	return func(context.Context, int, string) (*testConn, error) { return nil, errors.New(msg) }
}

func bubble(t *testing.T, f func(t *testing.T, h *harness)) {
	synctest.Test(t, func(t *testing.T) { f(t, newHarness(t)) })
}
