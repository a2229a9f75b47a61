package persistent_test

// The acceptance cases P1–P20 of the contract (Async's
// Persistent_connection, as the package docs give it): fake clock at t=0, no
// jitter, delay 10 s, Resolve → a unless the case says otherwise.

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/persistent"
)

func TestP1ConnectSucceedsAtOnce(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.run(nil)
		h.expectEvents("ATC", "OA(a)", "C(c1)")
		h.expectCurrent(h.conn(1))
		h.expectCounts(1, 1)
	})
}

func TestP2RetryEveryDelay(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = failWith("E")
		h.run(nil)
		h.expectEvents("ATC", "OA(a)", "FTC(E)")
		h.expectCounts(1, 1)
		h.advanceTo(9999 * time.Millisecond)
		h.expectCounts(1, 1)
		h.advanceTo(10 * time.Second)
		h.expectCounts(2, 2)
		h.advanceTo(20 * time.Second)
		h.expectCounts(3, 3)
		h.expectEvents("ATC", "OA(a)", "FTC(E)")
	})
}

func TestP3ErrorsDeduplicatedAgainstThePreviousOnly(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		errs := []string{"E1", "E1", "E2", "E2", "E1"}
		h.connect = func(_ context.Context, n int, _ string) (*testConn, error) {
			return nil, errors.New(errs[min(n, len(errs)-1)])
		}
		h.run(nil)
		h.advanceTo(40 * time.Second)
		h.expectCounts(5, 5)
		h.expectEvents("ATC", "OA(a)", "FTC(E1)", "FTC(E2)", "FTC(E1)")
	})
}

func TestP4AddressesDeduplicatedAgainstThePreviousOnly(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		addrs := []string{"a", "a", "b", "a"}
		h.resolve = func(n int) (string, error) { return addrs[min(n, len(addrs)-1)], nil }
		h.connect = failWith("E")
		h.run(nil)
		h.advanceTo(30 * time.Second)
		h.expectCounts(4, 4)
		h.expectEvents("ATC", "OA(a)", "FTC(E)", "OA(b)", "OA(a)")
	})
}

func TestP5ResolveFailureSkipsConnect(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.resolve = func(n int) (string, error) {
			if n == 0 {
				return "", errors.New("G")
			}
			return "a", nil
		}
		h.run(nil)
		h.expectEvents("ATC", "FTC(G)")
		h.expectCounts(1, 0)
		h.advanceTo(10 * time.Second)
		h.expectEvents("ATC", "FTC(G)", "OA(a)", "C(c1)")
		h.expectCounts(2, 1)
	})
}

func TestP6SlowAttemptCountsTowardTheDelay(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(ctx context.Context, _ int, _ string) (*testConn, error) {
			if err := clock.Sleep(ctx, h.clk, 4*time.Second); err != nil {
				return nil, err
			}
			return nil, errors.New("E")
		}
		h.run(nil)
		h.advanceTo(4 * time.Second)
		h.expectEvents("ATC", "OA(a)", "FTC(E)")
		h.advanceTo(9999 * time.Millisecond)
		h.expectCounts(1, 1)
		h.advanceTo(10 * time.Second)
		h.expectCounts(2, 2)
		if got := h.connectTimes[1]; got != 10*time.Second {
			t.Fatalf("second attempt started at %v, want 10s", got)
		}
	})
}

func TestP7LongLivedConnectionReconnectsAtOnce(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.run(nil)
		h.advanceTo(100 * time.Second)
		h.conn(1).die()
		synctest.Wait()
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D", "ATC", "OA(a)", "C(c2)")
		if got := h.resolveTimes[1]; got != 100*time.Second {
			t.Fatalf("second Resolve at %v, want 100s", got)
		}
		h.expectCurrent(h.conn(2))
	})
}

func TestP8ShortLivedConnectionWaitsOutItsDelay(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.run(nil)
		h.advanceTo(3 * time.Second)
		h.conn(1).die()
		synctest.Wait()
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D")
		h.expectCurrent(nil)
		h.advanceTo(9999 * time.Millisecond)
		h.expectCurrent(nil)
		h.expectCounts(1, 1)
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D")
		h.advanceTo(10 * time.Second)
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D", "ATC", "OA(a)", "C(c2)")
		if got := h.resolveTimes[1]; got != 10*time.Second {
			t.Fatalf("next attempt at %v, want 10s", got)
		}
	})
}

func TestP9DelayOfTheSuccessfulAttempt(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(_ context.Context, n int, _ string) (*testConn, error) {
			if n == 0 {
				return nil, errors.New("E")
			}
			return h.newConn(), nil
		}
		h.run(nil)
		h.advanceTo(10 * time.Second)
		h.expectEvents("ATC", "OA(a)", "FTC(E)", "C(c1)")
		h.advanceTo(12 * time.Second)
		h.conn(1).die()
		synctest.Wait()
		h.expectEvents("ATC", "OA(a)", "FTC(E)", "C(c1)", "D")
		h.advanceTo(19999 * time.Millisecond)
		h.expectCounts(2, 2)
		h.advanceTo(20 * time.Second)
		h.expectEvents("ATC", "OA(a)", "FTC(E)", "C(c1)", "D", "ATC", "OA(a)", "C(c2)")
	})
}

func TestP10MemoryResetsEachCycle(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(_ context.Context, n int, _ string) (*testConn, error) {
			if n == 1 {
				return h.newConn(), nil
			}
			return nil, errors.New("E")
		}
		h.run(nil)
		h.advanceTo(10 * time.Second)
		h.conn(1).die()
		h.advanceTo(20 * time.Second)
		h.expectEvents("ATC", "OA(a)", "FTC(E)", "C(c1)", "D", "ATC", "OA(a)", "FTC(E)")
	})
}

func TestP11AttemptWaitsForTheAttemptingToConnectHandler(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		release := make(chan struct{})
		h.onEvent = func(e persistent.Event[string, *testConn]) {
			if e.Kind.String() == "attempting to connect" {
				<-release
			}
		}
		h.run(nil)
		h.advance(time.Hour)
		h.expectCounts(0, 0)
		h.expectEvents("ATC")
		close(release)
		synctest.Wait()
		h.expectCounts(1, 1)
		h.expectEvents("ATC", "OA(a)", "C(c1)")
	})
}

func TestP12Jitter(t *testing.T) {
	// The bubble's own clock jumps straight to each timer, so the gaps
	// between attempts are measured exactly.
	gaps := func(seed uint64) []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			clk := clock.Real()
			var starts []time.Time
			pc, err := persistent.New(persistent.Config[string, *testConn]{
				ServerName: "jitter",
				Resolver:   addr.Static("a"),
				Connect: func(context.Context, string) (*testConn, error) {
					starts = append(starts, clk.Now())
					return nil, errors.New("E")
				},
				RetryDelay: persistent.Constant(10 * time.Second),
				Rand:       clock.NewRand(seed), // Jitter 0: the default, 0.3
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = clock.Sleep(context.Background(), clk, 1000*time.Second)
			_ = pc.Close(context.Background())
			for i := 1; i < len(starts); i++ {
				out = append(out, starts[i].Sub(starts[i-1]))
			}
		})
		return out
	}
	a := gaps(7)
	if len(a) < 70 {
		t.Fatalf("only %d gaps in 1000 s", len(a))
	}
	var below, above bool
	for _, g := range a {
		if g < 7*time.Second || g > 13*time.Second {
			t.Fatalf("gap %v outside [7s, 13s]", g)
		}
		below = below || g < 10*time.Second
		above = above || g > 10*time.Second
	}
	if !below || !above {
		t.Fatalf("gaps never went below (%v) or above (%v) 10s: %v", below, above, a)
	}
	if b := gaps(7); !slices.Equal(a, b) {
		t.Fatalf("same seed, different gaps:\n%v\n%v", a, b)
	}
	if c := gaps(8); slices.Equal(a[:10], c[:10]) {
		t.Fatalf("seeds 7 and 8 gave the same gaps %v", a[:10])
	}
}

func TestP13CloseWhileConnected(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(context.Context, int, string) (*testConn, error) {
			c := h.newConn()
			c.slow = true
			return c, nil
		}
		h.run(nil)
		c1 := h.conn(1)
		closed := async(func() error { return h.pc.Close(context.Background()) })
		synctest.Wait()
		if !h.pc.IsClosed() {
			t.Fatal("IsClosed() = false right after Close was called")
		}
		if !pending(closed) {
			t.Fatal("Close returned before c1 finished closing")
		}
		if n := c1.closeCount(); n != 1 {
			t.Fatalf("c1.Close called %d times, want 1", n)
		}
		c1.finishClose()
		if err := <-closed; err != nil {
			t.Fatalf("Close = %v", err)
		}
		select {
		case <-h.pc.CloseFinished():
		default:
			t.Fatal("CloseFinished not closed after Close returned")
		}
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D")
		h.advance(time.Hour)
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D")
		h.expectCounts(1, 1)
		h.expectCurrent(nil)
		if _, err := h.pc.ConnectedOrFailedToConnect(context.Background()); !errors.Is(err, persistent.ErrClosed) {
			t.Fatalf("ConnectedOrFailedToConnect after Close = %v, want ErrClosed", err)
		}
		if err := h.pc.Close(context.Background()); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if n := c1.closeCount(); n != 1 {
			t.Fatalf("c1.Close called %d times after a second Close, want 1", n)
		}
	})
}

func TestP14CloseWhileWaitingToRetry(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = failWith("E")
		h.run(nil)
		h.advanceTo(5 * time.Second)
		cofc := async(func() error { _, err := h.pc.ConnectedOrFailedToConnect(context.Background()); return err })
		conn := async(func() error { _, err := h.pc.Connected(context.Background()); return err })
		synctest.Wait()
		before := h.clk.Now()
		if err := h.pc.Close(context.Background()); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if !h.clk.Now().Equal(before) {
			t.Fatal("the clock moved during Close")
		}
		for name, ch := range map[string]<-chan error{"ConnectedOrFailedToConnect": cofc, "Connected": conn} {
			if err := <-ch; !errors.Is(err, persistent.ErrClosed) {
				t.Fatalf("pending %s = %v, want ErrClosed", name, err)
			}
		}
		h.advance(time.Hour)
		h.expectEvents("ATC", "OA(a)", "FTC(E)")
		h.expectCounts(1, 1)
	})
}

func TestP15CloseDuringConnect(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		release := make(chan struct{})
		h.connect = func(context.Context, int, string) (*testConn, error) {
			<-release // deaf to its context
			return h.newConn(), nil
		}
		h.run(nil)
		closed := async(func() error { return h.pc.Close(context.Background()) })
		if !pending(closed) {
			t.Fatal("Close returned while Connect was in flight")
		}
		h.expectEvents("ATC", "OA(a)")
		close(release)
		if err := <-closed; err != nil {
			t.Fatalf("Close = %v", err)
		}
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D")
		if n := h.conn(1).closeCount(); n != 1 {
			t.Fatalf("c1.Close called %d times, want 1", n)
		}
		h.expectCurrent(nil)
	})
}

func TestP16ConnectedOrFailedToConnectSeesDeduplicatedFailures(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = failWith("E")
		h.run(nil)
		h.advanceTo(5 * time.Second)
		res := async(func() error { _, err := h.pc.ConnectedOrFailedToConnect(context.Background()); return err })
		h.advanceTo(9999 * time.Millisecond)
		if !pending(res) {
			t.Fatal("ConnectedOrFailedToConnect returned before the next attempt")
		}
		h.advanceTo(10 * time.Second)
		if err := <-res; err == nil || err.Error() != "E" {
			t.Fatalf("ConnectedOrFailedToConnect = %v, want E", err)
		}
		h.expectEvents("ATC", "OA(a)", "FTC(E)")
	})
}

// P17 of the reference is not part of the contract, which skips it.

func TestP18ConnectPanics(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.connect = func(_ context.Context, n int, _ string) (*testConn, error) {
			if n < 2 {
				panic("kaboom")
			}
			return h.newConn(), nil
		}
		h.run(nil)
		h.advanceTo(20 * time.Second)
		h.expectEvents("ATC", "OA(a)", "FTC(panic in Connect: kaboom)", "C(c1)")
		if len(h.panics) != 2 || h.panics[0].Op != "Connect" || h.panics[0].Value != "kaboom" || len(h.panics[0].Stack) == 0 {
			t.Fatalf("OnPanic saw %v, want two Connect panics with stacks", h.panics)
		}
	})
}

func TestP19EventHandlerPanics(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.onEvent = func(persistent.Event[string, *testConn]) { panic("handler bug") }
		h.run(nil)
		h.expectEvents("ATC", "OA(a)", "C(c1)")
		if len(h.panics) != 3 || h.panics[0].Op != "OnEvent" {
			t.Fatalf("OnPanic saw %v, want one OnEvent panic per event", h.panics)
		}
		h.conn(1).die()
		h.advanceTo(10 * time.Second)
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D", "ATC", "OA(a)", "C(c2)")
	})
}

func TestP20CloseWhenCurrentConnectionIsClosed(t *testing.T) {
	bubble(t, func(t *testing.T, h *harness) {
		h.run(nil)
		h.pc.CloseWhenCurrentConnectionIsClosed()
		synctest.Wait()
		h.expectEvents("ATC", "OA(a)", "C(c1)")
		h.expectCurrent(h.conn(1))
		if h.pc.IsClosed() {
			t.Fatal("IsClosed() while the current connection lives")
		}
		if c, err := h.pc.Connected(context.Background()); err != nil || c != h.conn(1) {
			t.Fatalf("Connected = %v, %v; want c1", c, err)
		}
		h.advanceTo(time.Minute)
		h.conn(1).die()
		synctest.Wait()
		<-h.pc.CloseFinished()
		if !h.pc.IsClosed() {
			t.Fatal("IsClosed() = false after the connection died")
		}
		h.advance(time.Hour)
		h.expectEvents("ATC", "OA(a)", "C(c1)", "D")
		h.expectCounts(1, 1)
		if n := h.conn(1).closeCount(); n != 0 {
			t.Fatalf("c1.Close called %d times: the live connection must not be closed", n)
		}
	})
}
