package persistent_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/goleak"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/persistent"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The engine on a clockwork FakeClock, stepped explicitly: each Advance is
// preceded by waiting until the engine has set its retry timer.
func TestRetriesOnClockworkFakeClock(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	attempts := make(chan time.Time, 10)
	pc, err := persistent.New(persistent.Config[string, *testConn]{
		ServerName: "fake",
		Resolver:   addr.Static("a"),
		Connect: func(context.Context, string) (*testConn, error) {
			attempts <- fc.Now()
			return nil, errors.New("E")
		},
		RetryDelay: persistent.Constant(10 * time.Second),
		Jitter:     persistent.NoJitter,
		Clock:      fc,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := <-attempts
	for i := 1; i <= 3; i++ {
		if err := fc.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		fc.Advance(10 * time.Second)
		if got := (<-attempts).Sub(start); got != time.Duration(i)*10*time.Second {
			t.Fatalf("attempt %d at %v, want %v", i+1, got, time.Duration(i)*10*time.Second)
		}
	}
}

func TestCloseWhenCurrentConnectionIsClosedWhileWaitingToRetry(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = failWith("E")
		h.run(nil)
		h.advanceTo(5 * time.Second)
		h.pc.CloseWhenCurrentConnectionIsClosed()
		synctest.Wait()
		select {
		case <-h.pc.CloseFinished():
		default:
			t.Fatal("not finished at once while waiting to retry")
		}
		if h.now() != 5*time.Second {
			t.Fatalf("finished at %v, want 5s", h.now())
		}
		h.expectEvents("ATC", "OA(a)", "FTC(E)")
	})
}

func TestCloseWhenCurrentConnectionIsClosedDuringConnect(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		release := make(chan struct{})
		h.connect = func(context.Context, int, string) (*testConn, error) {
			<-release
			return h.newConn(), nil
		}
		h.run(nil)
		h.pc.CloseWhenCurrentConnectionIsClosed()
		close(release)
		<-h.pc.CloseFinished()
		h.expectEvents("ATC", "OA(a)") // never Connected
		if n := h.conn(1).closeCount(); n != 1 {
			t.Fatalf("connection closed %d times, want 1", n)
		}
		h.expectCurrent(nil)
	})
}

func TestAbort(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		fatal := errors.New("server says go away")
		var failures []int
		h.connect = func(ctx context.Context, n int, _ string) (*testConn, error) {
			at, ok := persistent.AttemptFrom(ctx)
			if !ok {
				t.Fatal("no Attempt in Connect's context")
			}
			failures = append(failures, at.Failures())
			if n < 2 {
				return nil, errors.New("E")
			}
			at.Abort(fatal)
			return h.newConn(), nil // made anyway: must be closed, not published
		}
		h.run(nil)
		h.advanceTo(15 * time.Second)
		pending := async(func() error { _, err := h.pc.ConnectedOrFailedToConnect(context.Background()); return err })
		h.advanceTo(20 * time.Second)
		<-h.pc.CloseFinished()
		h.expectEvents("ATC", "OA(a)", "FTC(E)", "FTC(server says go away)")
		if !slices.Equal(failures, []int{0, 1, 2}) {
			t.Fatalf("Attempt.Failures() = %v, want [0 1 2]", failures)
		}
		if n := h.conn(1).closeCount(); n != 1 {
			t.Fatalf("the aborting attempt's connection was closed %d times, want 1", n)
		}
		for _, err := range []error{<-pending, func() error { _, err := h.pc.Connected(context.Background()); return err }()} {
			if !errors.Is(err, persistent.ErrClosed) || !errors.Is(err, fatal) {
				t.Fatalf("query after abort = %v, want ErrClosed wrapping the abort error", err)
			}
		}
		h.advance(time.Hour)
		h.expectCounts(3, 3)
	})
}

// When Connect aborts with X and returns its own error E, E is reported as
// the attempt's failure (even when it repeats the previous one), while the
// persistent connection is not yet closed; then it closes, and its
// queries return X.
func TestAbortReportsTheAttemptsOwnError(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		fatal := errors.New("X: the server's key is revoked")
		h.connect = func(ctx context.Context, n int, _ string) (*testConn, error) {
			if n == 1 {
				at, _ := persistent.AttemptFrom(ctx)
				at.Abort(fatal)
			}
			return nil, errors.New("E")
		}
		var pc atomic.Pointer[persistent.Conn[string, *testConn]]
		closedDuringFTC := make(chan bool, 2)
		h.onEvent = func(e persistent.Event[string, *testConn]) {
			if p := pc.Load(); p != nil && e.Kind == event.FailedToConnect {
				closedDuringFTC <- p.IsClosed()
			}
		}
		pc.Store(h.run(nil)) // after the first FailedToConnect
		pending := async(func() error { _, err := h.pc.ConnectedOrFailedToConnect(context.Background()); return err })
		h.advanceTo(10 * time.Second)
		<-h.pc.CloseFinished()
		h.expectEvents("ATC", "OA(a)", "FTC(E)", "FTC(E)")
		if <-closedDuringFTC {
			t.Fatal("IsClosed() was true while the aborting attempt's FailedToConnect was handled")
		}
		for _, err := range []error{<-pending, func() error { _, err := h.pc.Connected(context.Background()); return err }()} {
			if !errors.Is(err, persistent.ErrClosed) || !errors.Is(err, fatal) {
				t.Fatalf("query after abort = %v, want ErrClosed wrapping X", err)
			}
		}
		h.advance(time.Hour)
		h.expectCounts(2, 2)
	})
}

func TestFailuresResetAfterSuccess(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		var failures []int
		h.connect = func(ctx context.Context, n int, _ string) (*testConn, error) {
			at, _ := persistent.AttemptFrom(ctx)
			failures = append(failures, at.Failures())
			if n == 2 {
				return h.newConn(), nil
			}
			return nil, errors.New("E")
		}
		h.run(nil)
		h.advanceTo(20 * time.Second)
		h.conn(1).die()
		h.advanceTo(40 * time.Second)
		if !slices.Equal(failures, []int{0, 1, 2, 0, 1}) {
			t.Fatalf("Failures() per attempt = %v, want [0 1 2 0 1]", failures)
		}
	})
}

// closingConn reports IsClosed before it is Done, like an RPC connection
// that is draining.
type closingConn struct {
	*testConn
	closing bool
}

func (c *closingConn) IsClosed() bool { return c.closing }

func TestConnectedSkipsAConnectionThatIsClosing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conns := []*closingConn{{testConn: newTestConn("c1")}, {testConn: newTestConn("c2")}}
		n := 0
		pc, err := persistent.New(persistent.Config[string, *closingConn]{
			ServerName: "draining",
			Resolver:   addr.Static("a"),
			Connect: func(context.Context, string) (*closingConn, error) {
				n++
				return conns[n-1], nil
			},
			RetryDelay: persistent.Constant(time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close(context.Background())
		if c, err := pc.Connected(context.Background()); err != nil || c != conns[0] {
			t.Fatalf("Connected = %v, %v; want c1", c, err)
		}
		conns[0].closing = true
		got := make(chan *closingConn, 1)
		go func() {
			c, _ := pc.Connected(context.Background())
			got <- c
		}()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("Connected returned a connection that is closing")
		}
		conns[0].die()
		if c := <-got; c != conns[1] {
			t.Fatalf("Connected = %v, want c2", c)
		}
	})
}

func TestQueriesHonourTheirContext(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = failWith("E")
		h.run(nil)
		ctx, cancel := clock.WithTimeout(context.Background(), h.clk, 3*time.Second)
		defer cancel()
		if _, err := h.pc.Connected(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Connected = %v, want DeadlineExceeded", err)
		}
		if _, err := h.pc.ConnectedOrFailedToConnect(ctx); err != context.DeadlineExceeded {
			t.Fatalf("ConnectedOrFailedToConnect = %v, want DeadlineExceeded", err)
		}
		// The abandoned waiter is gone: the next attempt settles only the
		// live one.
		res := async(func() error { _, err := h.pc.ConnectedOrFailedToConnect(context.Background()); return err })
		h.advanceTo(10 * time.Second)
		if err := <-res; err == nil || err.Error() != "E" {
			t.Fatalf("ConnectedOrFailedToConnect = %v, want E", err)
		}
	})
}

func TestConnectedOrFailedToConnectReturnsTheNextConnection(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(_ context.Context, n int, _ string) (*testConn, error) {
			if n == 0 {
				return nil, errors.New("E")
			}
			return h.newConn(), nil
		}
		h.run(nil)
		res := make(chan *testConn, 1)
		go func() {
			c, _ := h.pc.ConnectedOrFailedToConnect(context.Background())
			res <- c
		}()
		h.advanceTo(10 * time.Second)
		if c := <-res; c != h.conn(1) {
			t.Fatalf("ConnectedOrFailedToConnect = %v, want c1", c)
		}
		if c, err := h.pc.ConnectedOrFailedToConnect(context.Background()); c != h.conn(1) || err != nil {
			t.Fatalf("while connected: %v, %v; want c1 at once", c, err)
		}
	})
}

func TestSubscribers(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		var order []string
		h.onEvent = func(e persistent.Event[string, *testConn]) { order = append(order, "handler "+e.Kind.String()) }
		h.run(nil)
		// A late subscriber first receives the most recent event.
		var late []event.Kind
		unsub := h.pc.Subscribe(func(e persistent.Event[string, *testConn]) {
			late = append(late, e.Kind)
			order = append(order, "subscriber "+e.Kind.String())
		})
		if !slices.Equal(late, []event.Kind{event.Connected}) {
			t.Fatalf("late subscriber got %v, want [connected]", late)
		}
		order = nil
		h.conn(1).die()
		synctest.Wait()
		want := []string{"subscriber disconnected", "handler disconnected"}
		if !slices.Equal(order, want) {
			t.Fatalf("order %v, want %v", order, want)
		}
		unsub()
		h.advanceTo(10 * time.Second)
		if !slices.Equal(late, []event.Kind{event.Connected, event.Disconnected}) {
			t.Fatalf("unsubscribed subscriber got %v", late)
		}
	})
}

func TestSubscriberPanicIsReported(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.run(nil)
		h.pc.Subscribe(func(e persistent.Event[string, *testConn]) {
			if e.Kind == event.Disconnected {
				panic("subscriber bug")
			}
		})
		h.conn(1).die()
		h.advanceTo(10 * time.Second)
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D", "ATC", "OA(a)", "C(c2)")
		if len(h.panics) != 1 || h.panics[0].Op != "subscriber" {
			t.Fatalf("OnPanic saw %v, want one subscriber panic", h.panics)
		}
	})
}

func TestResolvePanicFailsTheAttempt(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.resolve = func(int) (string, error) { panic(errors.New("bad catalog")) }
		h.run(nil)
		h.expectEvents("ATC", "FTC(panic in Resolve: bad catalog)")
		var pe *persistent.PanicError
		if _, err := h.pc.ConnectedOrFailedToConnect(context.Background()); !errors.As(err, &pe) || pe.Op != "Resolve" {
			t.Fatalf("error %v is not a Resolve *PanicError", err)
		}
	})
}

// Go deviation: Close cancels an attempt's context, so a Connect that
// honours it does not hold Close up.
func TestCloseCancelsTheAttemptInProgress(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(ctx context.Context, _ int, _ string) (*testConn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		h.run(nil)
		if err := h.pc.Close(context.Background()); err != nil {
			t.Fatalf("Close = %v", err)
		}
		h.expectEvents("ATC", "OA(a)", "FTC(context canceled)")
	})
}

func TestCloseReturnsWhenItsContextEnds(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(context.Context, int, string) (*testConn, error) {
			c := h.newConn()
			c.slow = true
			return c, nil
		}
		h.run(nil)
		ctx, cancel := clock.WithTimeout(context.Background(), h.clk, time.Second)
		defer cancel()
		if err := h.pc.Close(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Close = %v, want DeadlineExceeded while c1 is still closing", err)
		}
		if !h.pc.IsClosed() {
			t.Fatal("IsClosed() = false")
		}
		h.conn(1).finishClose()
		<-h.pc.CloseFinished()
	})
}

func TestClosedErrorNamesTheServer(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.run(nil)
		h.pc.Close(context.Background())
		_, err := h.pc.Connected(context.Background())
		if err == nil || err.Error() != "persistent connection to test closed" {
			t.Fatalf("error %q, want %q", err, "persistent connection to test closed")
		}
		if h.pc.ServerName() != "test" {
			t.Fatalf("ServerName() = %q", h.pc.ServerName())
		}
	})
}

func TestLogsAreTaggedWithTheServerName(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		var buf bytes.Buffer
		cfg := h.config()
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h.run(&cfg)
		h.pc.Close(context.Background())
		out := buf.String()
		for _, want := range []string{"msg=\"attempting to connect\" server=test", "msg=\"obtained address\" server=test addr=a", "msg=connected server=test", "msg=disconnected server=test"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})
}

// Log messages are constant, with the details as attributes; a failure
// to connect is logged at INFO when it is the first in a row, at DEBUG
// after.
func TestFailuresAreLoggedOnceAtInfo(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		var buf bytes.Buffer
		cfg := h.config()
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		errs := []string{"E1", "E2", "E3"}
		h.connect = func(_ context.Context, n int, _ string) (*testConn, error) { return nil, errors.New(errs[min(n, 2)]) }
		h.run(&cfg)
		h.advanceTo(25 * time.Second)
		out := buf.String()
		for _, want := range []string{
			`level=INFO msg="failed to connect" server=test err=E1`,
			`level=DEBUG msg="failed to connect" server=test err=E2`,
			`level=DEBUG msg="failed to connect" server=test err=E3`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})
}

func TestConfigValidation(t *testing.T) {
	_, err := persistent.New(persistent.Config[string, *testConn]{})
	var ce *persistent.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("New(empty) = %v, want a *ConfigError", err)
	}
	for _, field := range []string{"ServerName", "Resolver", "Connect"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestExponentialPolicy(t *testing.T) {
	p := persistent.Exponential(&backoff.ExponentialBackOff{
		InitialInterval:     time.Second,
		Multiplier:          2,
		MaxInterval:         10 * time.Second,
		RandomizationFactor: 0.5, // overridden: our own jitter applies instead
		MaxElapsedTime:      time.Millisecond,
	})
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := p(i); got != w*time.Second {
			t.Fatalf("policy(%d) = %v, want %v", i, got, w*time.Second)
		}
	}
	// Back to 0 after a success, and out-of-order questions get the same
	// answers: it is a function of the failure count.
	if got := p(0); got != time.Second {
		t.Fatalf("policy(0) after a run = %v, want 1s", got)
	}
	if got := p(3); got != 8*time.Second {
		t.Fatalf("policy(3) after policy(0) = %v, want 8s", got)
	}
	if got := p(1); got != 2*time.Second {
		t.Fatalf("policy(1) after policy(3) = %v, want 2s", got)
	}
	if got := persistent.Exponential(nil)(0); got != backoff.DefaultInitialInterval {
		t.Fatalf("Exponential(nil)(0) = %v, want %v", got, backoff.DefaultInitialInterval)
	}
}

func TestExponentialPolicyDrivesTheRetries(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = failWith("E")
		cfg := h.config()
		cfg.RetryDelay = persistent.Exponential(&backoff.ExponentialBackOff{
			InitialInterval: time.Second, Multiplier: 2, MaxInterval: time.Minute,
		})
		h.run(&cfg)
		h.advanceTo(time.Minute)
		want := []time.Duration{0, 1, 3, 7, 15, 31}
		for i, w := range want {
			if h.connectTimes[i] != w*time.Second {
				t.Fatalf("attempt times %v, want %v s", h.connectTimes, want)
			}
		}
	})
}
