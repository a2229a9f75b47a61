package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
)

// These tests pin down the two ways a round trip skips a goroutine hop on
// a socket (inline.go, readrole.go): a call that arrives alone runs on the
// server's reader, and a caller reads its own reply. Each checks that the
// fast path is taken, and that what could block behind it does not.

const inlinePatience = 10 * time.Second

var (
	inlEcho    = NewMethod[int64, int64]("echo", 1)
	inlHold    = NewMethod[int64, int64]("hold", 1)
	inlRelease = NewMethod[int64, int64]("release", 1)
)

// tcpPair returns the two ends of an rpc connection over loopback TCP: the
// server end serves hs, the client end nothing. The server runs on a fake
// clock that nothing advances, so that a pause of a loaded machine in the
// middle of a handler does not make its method slow (slowInline).
func tcpPair(t *testing.T, hs *Handlers) (client, server *Conn) {
	t.Helper()
	return tcpPairWith(t, Config{Handlers: hs, Clock: clock.NewFake(time.Unix(0, 0))})
}

// tcpPairWith is tcpPair with the server end's config.
func tcpPairWith(t *testing.T, cfg Config) (client, server *Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), inlinePatience)
	defer cancel()
	type res struct {
		c   *Conn
		err error
	}
	srv := make(chan res, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			srv <- res{nil, err}
			return
		}
		c, err := NewConn(ctx, nc, cfg)
		srv <- res{c, err}
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client, err = NewConn(ctx, nc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := <-srv
	if s.err != nil {
		t.Fatal(s.err)
	}
	t.Cleanup(func() {
		client.Close()
		s.c.Close()
		<-client.Done()
		<-s.c.Done()
	})
	return client, s.c
}

// holdHandlers implements echo; hold, which blocks until release is
// called (and says when it has started); and release.
func holdHandlers(started chan<- struct{}) *Handlers {
	var hs Handlers
	var once sync.Once
	released := make(chan struct{})
	inlEcho.Implement(&hs, func(_ context.Context, n int64) (int64, error) { return n, nil })
	inlHold.Implement(&hs, func(ctx context.Context, n int64) (int64, error) {
		started <- struct{}{}
		select {
		case <-released:
			return n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	inlRelease.Implement(&hs, func(_ context.Context, n int64) (int64, error) {
		once.Do(func() { close(released) })
		return n, nil
	})
	return &hs
}

// TestInlineRunsOnReader: a lone call runs on the server's reader, and
// the client's caller reads its own reply once the reader has let go.
func TestInlineRunsOnReader(t *testing.T) {
	client, server := tcpPair(t, holdHandlers(make(chan struct{}, 1)))
	if !server.inline.ok || server.role.ok {
		t.Fatalf("server: inline %v, callers read %v; want inline only", server.inline.ok, server.role.ok)
	}
	if !client.role.ok {
		t.Fatal("client: callers do not read")
	}
	ctx := patientCtx(t)
	for i := range int64(100) {
		if n, err := inlEcho.Call(ctx, client, i); err != nil || n != i {
			t.Fatalf("echo %d = %d, %v", i, n, err)
		}
	}
	if runs := server.inline.state.Load() >> 2; runs < 50 {
		t.Errorf("the server ran %d of 100 lone calls inline; want most", runs)
	}
	// Each time the role is let go free, its count moves: once per call
	// that a caller read itself.
	if frees := client.role.state.Load() >> 2; frees < 50 {
		t.Errorf("the role was let go free %d times in 100 calls; want most", frees)
	}
	if runs := server.inline.state.Load() >> 2; runs > 100 {
		t.Errorf("%d inline runs for 100 calls", runs)
	}
}

// TestInlineBlockedHandlerIsTakenOver: a handler running inline that
// blocks until another call on the same connection arrives does not
// deadlock: the watchdog starts another reader, which serves that call.
func TestInlineBlockedHandlerIsTakenOver(t *testing.T) {
	started := make(chan struct{}, 1)
	client, server := tcpPair(t, holdHandlers(started))
	ctx := patientCtx(t)
	held := make(chan error, 1)
	go func() {
		_, err := inlHold.Call(ctx, client, 1)
		held <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("hold never started")
	}
	if st := server.inline.state.Load(); st&3 == phaseIdle {
		t.Fatal("hold does not run inline")
	}
	if _, err := inlRelease.Call(ctx, client, 2); err != nil {
		t.Fatalf("release, while hold runs inline: %v", err)
	}
	if err := <-held; err != nil {
		t.Fatalf("hold: %v", err)
	}
	if st := server.inline.state.Load(); st&3 != phaseTaken {
		t.Errorf("inline state %d after the takeover; want taken", st&3)
	}
	// The connection goes on, read by the new reader.
	if n, err := inlEcho.Call(ctx, client, 3); err != nil || n != 3 {
		t.Fatalf("echo after the takeover = %d, %v", n, err)
	}
}

// freeRole makes calls until client's read role is free, as it is between
// calls once the reader goroutine has let it go.
func freeRole(t *testing.T, ctx context.Context, client *Conn) {
	t.Helper()
	for i := range int64(1000) {
		if client.role.state.Load()&3 == roleFree {
			return
		}
		if _, err := inlEcho.Call(ctx, client, i); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the read role is never free between calls")
}

// TestCallerReadInterrupted: a caller reading its own reply stops at the
// end of its context; the call fails with the context's error, the late
// reply is dropped, and the connection reads on.
func TestCallerReadInterrupted(t *testing.T) {
	started := make(chan struct{}, 1)
	client, _ := tcpPair(t, holdHandlers(started))
	ctx := patientCtx(t)
	// The caller finds the role free unless the watchdog took it back in
	// between (a pause of milliseconds): then the attempt is repeated.
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Fatal("hold's caller never took the read role")
		}
		freeRole(t, ctx, client)
		short, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := inlHold.Call(short, client, 2)
			errc <- err
		}()
		<-started
		// The caller takes the role once its request is written, which
		// may be after the handler started.
		t0 := clock.Real().Now()
		for client.role.state.Load()&3 != roleCaller && clock.Real().Since(t0) < time.Second {
			runtime.Gosched()
		}
		cancel()
		if client.role.state.Load()&3 != roleCaller {
			<-errc
			continue
		}
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("hold with its context cancelled: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("a caller reading its reply did not stop when its context ended")
		}
		break
	}
	if _, err := inlRelease.Call(ctx, client, 3); err != nil {
		t.Fatalf("release after the interrupted read: %v", err)
	}
	for i := range int64(10) {
		if n, err := inlEcho.Call(ctx, client, i); err != nil || n != i {
			t.Fatalf("echo %d after the interrupted read = %d, %v", i, n, err)
		}
	}
}

// TestFreeRoleReclaimed: frames the peer sends unasked after the last
// reply — here a graceful close, whose drain needs an answer — are read
// although no caller waits: the watchdog gives the role back to the
// reader goroutine.
func TestFreeRoleReclaimed(t *testing.T) {
	client, server := tcpPair(t, holdHandlers(make(chan struct{}, 1)))
	ctx := patientCtx(t)
	freeRole(t, ctx, client)
	if err := server.CloseWithReason(ctx, "test"); err != nil {
		t.Fatalf("the server's graceful close: %v (the client never answered its drain)", err)
	}
	select {
	case <-client.Done():
	case <-ctx.Done():
		t.Fatal("the client never saw the server close")
	}
	var ce *ClosedError
	if err := client.Err(); !errors.As(err, &ce) || !ce.Remote {
		t.Fatalf("client's error %v; want closed by the remote side", err)
	}
}

// TestSlowHandlerLeavesTheReader: after a handler takes slowInline on a
// reader (here on the server's fake clock), its method's next slowSkip
// lone calls go to workers, then one runs on the reader again, and if
// that one is quick the method stays there; other methods are not
// affected.
func TestSlowHandlerLeavesTheReader(t *testing.T) {
	fake := clock.NewFake(time.Unix(0, 0))
	var slow atomic.Bool
	var hs Handlers
	inlEcho.Implement(&hs, func(_ context.Context, n int64) (int64, error) { return n, nil })
	inlHold.Implement(&hs, func(_ context.Context, n int64) (int64, error) {
		if slow.Load() {
			fake.Advance(slowInline) // the handler takes slowInline, on the server's clock
		}
		return n, nil
	})
	client, server := tcpPairWith(t, Config{Handlers: &hs, Clock: fake})
	ctx := patientCtx(t)
	runs := func() uint64 { return server.inline.state.Load() >> 2 }
	calls := func(m *Method[int64, int64], k int64) (inline uint64) {
		t.Helper()
		before := runs()
		for i := range k {
			if got, err := m.Call(ctx, client, i); err != nil || got != i {
				t.Fatalf("%s %d = %d, %v", m.Name(), i, got, err)
			}
		}
		return runs() - before
	}
	// untilInline calls hold until a call runs inline: the first lone
	// call that may (a call that arrives with another frame does not).
	untilInline := func(what string) {
		t.Helper()
		for i := 0; calls(inlHold, 1) == 0; i++ {
			if i == 10 {
				t.Fatalf("%s: hold does not run inline", what)
			}
		}
	}
	slow.Store(true)
	untilInline("at first")
	if n := calls(inlHold, slowSkip); n != 0 {
		t.Errorf("hold ran inline %d times in the %d calls after it was slow there; want 0", n, slowSkip)
	}
	untilInline("after the skipped calls") // the probe: slow again
	if n := calls(inlEcho, 100); n < 50 {
		t.Errorf("echo ran inline %d times in 100 lone calls while hold was slow; want most", n)
	}
	slow.Store(false)
	if n := calls(inlHold, slowSkip); n != 0 {
		t.Errorf("hold ran inline %d times in the %d calls after the slow probe; want 0", n, slowSkip)
	}
	untilInline("after the slow probe") // the probe: quick now
	if n := calls(inlHold, 100); n < 50 {
		t.Errorf("hold ran inline %d times in 100 lone calls after a quick probe; want most", n)
	}
}

// TestReadRoleUnderConcurrency: callers that overlap, some of them
// cancelled mid-call, against a handler that outlasts the watchdog's
// ticks and one that does not, pass the read role and the inline reader
// around in every order; every call ends (answered, or with its context's
// error), and the connection works on.
func TestReadRoleUnderConcurrency(t *testing.T) {
	var hs Handlers
	inlEcho.Implement(&hs, func(ctx context.Context, n int64) (int64, error) { return n, nil })
	inlHold.Implement(&hs, func(ctx context.Context, n int64) (int64, error) {
		// Outlasts two watchdog ticks, unless cancelled: a run inline is
		// taken over by the watchdog. (tcpPair's server clock stands
		// still, so hold never counts as slow and keeps running inline.)
		select {
		case <-clock.Real().After(2*watchInterval + time.Millisecond):
			return n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	client, _ := tcpPair(t, &hs)
	ctx := patientCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range int64(8) {
		wg.Go(func() {
			for i := range int64(200) {
				n := g*1000 + i
				cctx, cancel := ctx, context.CancelFunc(func() {})
				if i%5 == 0 {
					cctx, cancel = clock.WithTimeout(ctx, clock.Real(), 200*time.Microsecond)
				}
				m := inlEcho
				if n%29 == 0 {
					m = inlHold
				}
				got, err := m.Call(cctx, client, n)
				cancel()
				switch {
				case err == nil && got != n:
					errs <- fmt.Errorf("echo %d = %d", n, got)
					return
				case err != nil && (i%5 != 0 || ctx.Err() != nil):
					errs <- fmt.Errorf("echo %d: %w", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range int64(20) {
		if n, err := inlEcho.Call(ctx, client, i+1); err != nil || n != i+1 {
			t.Fatalf("echo %d afterwards = %d, %v", i+1, n, err)
		}
	}
}
