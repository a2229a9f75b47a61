package rpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tetherkit/tether/rpc"
)

var (
	gated  = rpc.NewMethod[int, int]("gated", 1)
	blocks = rpc.NewMethod[int, string]("blocks", 1)
	fails  = rpc.NewMethod[string, int]("fails", 1)
	sized  = rpc.NewMethod[int, []byte]("sized", 1)
)

// Concurrent calls on one connection finish in the order their handlers
// do, and each caller gets its own response.
func TestCallsCompleteOutOfOrder(t *testing.T) {
	const n = 20
	release := make([]chan struct{}, n)
	for i := range release {
		release[i] = make(chan struct{})
	}
	started := make(chan int, n)
	var hs rpc.Handlers
	gated.Implement(&hs, func(ctx context.Context, i int) (int, error) {
		started <- i
		<-release[i]
		return i * 10, nil
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	ctx := patient(t)

	done := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := gated.Call(ctx, c, i)
			if err != nil || r != i*10 {
				t.Errorf("call %d = %d, %v", i, r, err)
			}
			done <- i
		})
	}
	for range n {
		<-started // every call is in its handler at once
	}
	for i := n - 1; i >= 0; i-- { // release in reverse
		close(release[i])
		if got := <-done; got != i {
			t.Fatalf("call %d finished when %d was released", got, i)
		}
	}
	wg.Wait()
}

// Cancelling a call's context fails the call at once and cancels the
// handler's context at the server.
func TestCancelReachesTheHandler(t *testing.T) {
	inHandler := make(chan struct{})
	handlerErr := make(chan error, 1)
	hs := echoHandlers(nil)
	blocks.Implement(hs, func(ctx context.Context, _ int) (string, error) {
		close(inHandler)
		<-ctx.Done()
		handlerErr <- ctx.Err()
		return "", ctx.Err()
	})
	addr, _ := serve(t, rpc.Config{Handlers: hs})
	c := dial(t, addr, rpc.Config{})

	ctx, cancel := context.WithCancel(patient(t))
	res := make(chan error, 1)
	go func() { _, err := blocks.Call(ctx, c, 1); res <- err }()
	<-inHandler
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call = %v, want context.Canceled", err)
	}
	if err := <-handlerErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's context = %v, want Canceled", err)
	}
	// The connection carries on.
	if _, err := echo.Call(patient(t), c, Echo{N: 1}); err != nil {
		t.Fatalf("call after a cancel = %v", err)
	}
}

func TestUnknownMethodKeepsTheConnection(t *testing.T) {
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(nil)})
	c := dial(t, addr, rpc.Config{})
	ctx := patient(t)

	_, err := blocks.Call(ctx, c, 1)
	var e *rpc.Error
	if !errors.Is(err, rpc.ErrUnknownMethod) || !errors.As(err, &e) || e.Method != "blocks" || e.Version != 1 {
		t.Fatalf("unknown method = %v, want an *Error for blocks v1 wrapping ErrUnknownMethod", err)
	}
	if !strings.Contains(e.Conn, "rpc connection to 127.0.0.1:") {
		t.Fatalf("error names connection %q", e.Conn)
	}
	// The peer has echo, but not version 2: the error says which it has.
	_, err = rpc.NewMethod[Echo, Echo]("echo", 2).Call(ctx, c, Echo{})
	if !errors.Is(err, rpc.ErrUnknownMethod) || !strings.Contains(err.Error(), "versions [1]") {
		t.Fatalf("wrong version = %v, want ErrUnknownMethod naming versions [1]", err)
	}
	// A method of the wrong kind.
	_, err = rpc.NewMethod[Echo, Echo]("notify", 1).Call(ctx, c, Echo{})
	if !errors.Is(err, rpc.ErrUnknownMethod) || !strings.Contains(err.Error(), "one-way") {
		t.Fatalf("calling a one-way message = %v", err)
	}
	if r, err := echo.Call(ctx, c, Echo{N: 5}); err != nil || r.N != 5 {
		t.Fatalf("echo after unknown methods = %+v, %v", r, err)
	}
	if vs := c.PeerVersions("echo"); len(vs) != 1 || vs[0] != 1 {
		t.Fatalf("PeerVersions(echo) = %v", vs)
	}
}

func TestHandlerFailures(t *testing.T) {
	var hs rpc.Handlers
	fails.Implement(&hs, func(_ context.Context, how string) (int, error) {
		switch how {
		case "panic":
			panic("handler bug")
		case "error":
			return 0, errors.New("no such account")
		}
		return 1, nil
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	ctx := patient(t)

	_, err := fails.Call(ctx, c, "panic")
	var re *rpc.RemoteError
	if !errors.As(err, &re) || !re.Panic || re.Message != "handler bug" {
		t.Fatalf("panicking handler = %v, want a *RemoteError with Panic", err)
	}
	_, err = fails.Call(ctx, c, "error")
	if !errors.As(err, &re) || re.Panic || re.Message != "no such account" {
		t.Fatalf("failing handler = %v, want a *RemoteError with its text", err)
	}
	if r, err := fails.Call(ctx, c, "ok"); err != nil || r != 1 {
		t.Fatalf("after failures: %d, %v", r, err)
	}
}

func TestTooLargeFailsOnlyThatCall(t *testing.T) {
	var hs rpc.Handlers
	sized.Implement(&hs, func(_ context.Context, n int) ([]byte, error) { return bytes.Repeat([]byte{'x'}, n), nil })
	echo.Implement(&hs, func(_ context.Context, e Echo) (Echo, error) { return e, nil })
	addr, _ := serve(t, rpc.Config{Handlers: &hs, MaxFrameSize: 4096})
	c := dial(t, addr, rpc.Config{MaxFrameSize: 2048})
	ctx := patient(t)

	// A request over the server's maximum fails here, before sending.
	_, err := echo.Call(ctx, c, Echo{Payload: make([]byte, 5000)})
	var tl *rpc.TooLargeError
	if !errors.Is(err, rpc.ErrTooLarge) || !errors.As(err, &tl) || tl.Max != 4096 || tl.Size < 5000 || tl.Remote {
		t.Fatalf("request too large = %v, want a local *TooLargeError with max 4096", err)
	}
	// A response over the client's maximum fails at the server, which
	// says so.
	_, err = sized.Call(ctx, c, 3000)
	if !errors.As(err, &tl) || tl.Max != 2048 || tl.Size < 3000 || !tl.Remote {
		t.Fatalf("response too large = %v, want a remote *TooLargeError with max 2048", err)
	}
	if r, err := sized.Call(ctx, c, 100); err != nil || len(r) != 100 {
		t.Fatalf("after too-large messages: %d bytes, %v", len(r), err)
	}
	if !strings.Contains(fmt.Sprint(tl), "exceeds the maximum of 2048") {
		t.Fatalf("message %q", tl)
	}
}

// A cancelled call tells the peer to cancel that call and no other, even
// while other calls start at once and reuse what the cancelled one held.
// (The cancel used to read the call's id after the call had gone back to
// the free list, where another call could take it and change the id: the
// race detector saw it, and once a cancel reached an unrelated call.)
func TestCancelReachesOnlyItsCall(t *testing.T) {
	hold := rpc.NewMethod[bool, string]("hold", 1)
	var hs rpc.Handlers
	hold.Implement(&hs, func(ctx context.Context, cancelled bool) (string, error) {
		if cancelled {
			<-ctx.Done() // the caller cancels this one
			return "", ctx.Err()
		}
		return "done", ctx.Err() // a call nobody cancels: its context must be live
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	patientCtx := patient(t)

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { // calls that are cancelled as soon as they are sent
			for range 300 {
				ctx, cancel := context.WithCancel(patientCtx)
				go cancel()
				hold.Call(ctx, c, true)
			}
		})
		wg.Go(func() { // calls that must not be
			for range 300 {
				if r, err := hold.Call(patientCtx, c, false); err != nil || r != "done" {
					t.Errorf("uncancelled call = %q, %v", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
