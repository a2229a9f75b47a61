package clock_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/tetherkit/tether/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRandSameSeedSameSequence(t *testing.T) {
	a, b := clock.NewRand(42), clock.NewRand(42)
	for i := range 100 {
		if x, y := a.Uint64(), b.Uint64(); x != y {
			t.Fatalf("draw %d: %d != %d", i, x, y)
		}
	}
	if clock.NewRand(42).Uint64() == clock.NewRand(43).Uint64() {
		t.Fatal("seeds 42 and 43 start the same")
	}
}

func TestRandZeroValueIsSeedZero(t *testing.T) {
	var z clock.Rand
	if z.Uint64() != clock.NewRand(0).Uint64() {
		t.Fatal("zero Rand differs from NewRand(0)")
	}
}

func TestRandDeriveIsIndependentOfDraws(t *testing.T) {
	root := clock.NewRand(7)
	before := root.Derive("retry").Uint64()
	for range 1000 {
		root.Uint64()
	}
	if after := root.Derive("retry").Uint64(); after != before {
		t.Fatalf("derived stream changed after drawing from the root: %d != %d", after, before)
	}
	if root.Derive("retry").Uint64() == root.Derive("dns").Uint64() {
		t.Fatal("streams retry and dns start the same")
	}
	if root.Derive("a").Derive("b").Uint64() == root.Derive("b").Uint64() {
		t.Fatal("a/b and b start the same: the path must matter")
	}
	if got := root.Derive("x").Seed(); got != 7 {
		t.Fatalf("derived Seed() = %d, want the root seed 7", got)
	}
}

func TestRandConcurrentUse(t *testing.T) {
	r := clock.NewRand(1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				r.IntN(10)
				r.Float64()
			}
		})
	}
	wg.Wait()
}

func TestJitterBounds(t *testing.T) {
	r := clock.NewRand(3)
	const d = 10 * time.Second
	var below, above bool
	for range 10000 {
		j := r.Jitter(d, 0.3)
		if j < 7*time.Second || j >= 13*time.Second {
			t.Fatalf("Jitter(10s, 0.3) = %v, outside [7s, 13s)", j)
		}
		below = below || j < d
		above = above || j > d
	}
	if !below || !above {
		t.Fatalf("jitter never went below (%v) or above (%v) 10s", below, above)
	}
	if got := r.Jitter(d, 0); got != d {
		t.Fatalf("Jitter(d, 0) = %v, want %v", got, d)
	}
	if got := r.Jitter(0, 0.3); got != 0 {
		t.Fatalf("Jitter(0, 0.3) = %v, want 0", got)
	}
	for range 1000 {
		if j := r.Jitter(d, 5); j < 0 || j >= 2*d {
			t.Fatalf("Jitter(d, 5) = %v: f must clamp to 1", j)
		}
	}
}

func TestWithTimeoutOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := clock.NewFake(t0)
		ctx, cancel := clock.WithTimeout(context.Background(), fc, 5*time.Second)
		defer cancel()
		child, cancelChild := context.WithCancel(ctx)
		defer cancelChild()

		if d, ok := ctx.Deadline(); !ok || !d.Equal(t0.Add(5*time.Second)) {
			t.Fatalf("Deadline() = %v, %v", d, ok)
		}
		fc.Advance(4999 * time.Millisecond)
		synctest.Wait()
		if err := ctx.Err(); err != nil {
			t.Fatalf("Err() before the deadline = %v, want nil (and it must not block)", err)
		}
		fc.Advance(time.Millisecond)
		synctest.Wait()
		select {
		case <-ctx.Done():
		default:
			t.Fatal("Done not closed at the deadline")
		}
		if err := ctx.Err(); err != context.DeadlineExceeded {
			t.Fatalf("Err() = %v, want DeadlineExceeded", err)
		}
		if err := context.Cause(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Cause() = %v, want DeadlineExceeded", err)
		}
		<-child.Done()
		if err := child.Err(); err != context.DeadlineExceeded {
			t.Fatalf("child Err() = %v, want DeadlineExceeded", err)
		}
	})
}

func TestWithDeadlineCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := clock.NewFake(t0)
		ctx, cancel := clock.WithDeadline(context.Background(), fc, t0.Add(time.Hour))
		cancel()
		if err := ctx.Err(); err != context.Canceled {
			t.Fatalf("Err() right after cancel = %v, want Canceled", err)
		}
		if err := context.Cause(ctx); err != context.Canceled {
			t.Fatalf("Cause() = %v, want Canceled", err)
		}
		fc.Advance(2 * time.Hour)
		synctest.Wait()
		if err := ctx.Err(); err != context.Canceled {
			t.Fatalf("Err() after the deadline passed = %v, want still Canceled", err)
		}
	})
}

func TestWithDeadlineParentEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := clock.NewFake(t0)
		cause := errors.New("shutting down")
		parent, cancelParent := context.WithCancelCause(context.Background())
		ctx, cancel := clock.WithTimeout(parent, fc, time.Minute)
		defer cancel()
		cancelParent(cause)
		<-ctx.Done()
		if err := ctx.Err(); err != context.Canceled {
			t.Fatalf("Err() = %v, want Canceled", err)
		}
		if err := context.Cause(ctx); err != cause {
			t.Fatalf("Cause() = %v, want the parent's cause", err)
		}
	})
}

func TestWithDeadlineNestedOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := clock.NewFake(t0)
		outer, cancelOuter := clock.WithTimeout(context.Background(), fc, time.Second)
		defer cancelOuter()
		// A later deadline under an earlier one is just the earlier one.
		inner, cancelInner := clock.WithTimeout(outer, fc, time.Hour)
		defer cancelInner()
		if d, _ := inner.Deadline(); !d.Equal(t0.Add(time.Second)) {
			t.Fatalf("inner Deadline() = %v, want the outer one", d)
		}
		// An earlier deadline under a later one keeps its own.
		short, cancelShort := clock.WithTimeout(outer, fc, time.Millisecond)
		defer cancelShort()
		fc.Advance(time.Millisecond)
		synctest.Wait()
		if short.Err() != context.DeadlineExceeded || outer.Err() != nil {
			t.Fatalf("after 1ms: short %v (want DeadlineExceeded), outer %v (want nil)", short.Err(), outer.Err())
		}
		fc.Advance(time.Second)
		synctest.Wait()
		if inner.Err() != context.DeadlineExceeded {
			t.Fatalf("inner Err() = %v, want DeadlineExceeded from the outer deadline", inner.Err())
		}
	})
}

func TestWithDeadlineInThePast(t *testing.T) {
	fc := clock.NewFake(t0)
	ctx, cancel := clock.WithDeadline(context.Background(), fc, t0.Add(-time.Second))
	defer cancel()
	if err := ctx.Err(); err != context.DeadlineExceeded {
		t.Fatalf("Err() = %v, want DeadlineExceeded at once", err)
	}
}

func TestWithDeadlineAfterFuncStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := clock.NewFake(t0)
		ctx, cancel := clock.WithTimeout(context.Background(), fc, time.Second)
		ran := make(chan string, 2)
		stop := context.AfterFunc(ctx, func() { ran <- "kept" })
		stopped := context.AfterFunc(ctx, func() { ran <- "stopped" })
		if !stopped() {
			t.Fatal("stop() = false before the context ended")
		}
		cancel()
		synctest.Wait()
		if stop() {
			t.Fatal("stop() = true after the function ran")
		}
		if got := <-ran; got != "kept" || len(ran) != 0 {
			t.Fatalf("ran %q and %d more, want only kept", got, len(ran))
		}
	})
}

func TestWithDeadlineRealClockIsStandard(t *testing.T) {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), time.Hour)
	defer cancel()
	if _, ok := ctx.Deadline(); !ok {
		t.Fatal("no deadline on the real clock")
	}
	cancel()
	if ctx.Err() != context.Canceled {
		t.Fatalf("Err() = %v, want Canceled", ctx.Err())
	}
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := clock.NewFake(t0)
		done := make(chan error, 1)
		go func() { done <- clock.Sleep(context.Background(), fc, time.Minute) }()
		synctest.Wait()
		fc.Advance(59 * time.Second)
		synctest.Wait()
		if len(done) != 0 {
			t.Fatal("Sleep returned before a minute passed")
		}
		fc.Advance(time.Second)
		if err := <-done; err != nil {
			t.Fatalf("Sleep = %v", err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- clock.Sleep(ctx, fc, time.Hour) }()
		synctest.Wait()
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("Sleep after cancel = %v, want Canceled", err)
		}
	})
}

// The deadline passing must end the context with DeadlineExceeded, never
// Canceled: cancelling the inner context first woke the parent watcher,
// whose finish (with the inner context's Canceled) could get there before
// the deadline's own.
func TestWithDeadlineExpiresWithDeadlineExceeded(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
	synctest.Test(t, func(t *testing.T) {
		fc := clock.NewFake(t0)
		bad := 0
		const runs = 2000
		for range runs {
			ctx, cancel := clock.WithTimeout(context.Background(), fc, time.Second)
			fc.Advance(time.Second)
			<-ctx.Done()
			synctest.Wait()
			if ctx.Err() != context.DeadlineExceeded || context.Cause(ctx) != context.DeadlineExceeded {
				bad++
			}
			cancel()
		}
		if bad > 0 {
			t.Fatalf("%d of %d contexts past their deadline say Canceled", bad, runs)
		}
	})
}
