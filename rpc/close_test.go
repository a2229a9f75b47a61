package rpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/test/sim"
)

var ask = rpc.NewMethod[string, string]("ask", 1)

// Graceful close: new calls fail at once, the peer learns the reason, and a
// call under way finishes. (On the simulated network, so that "the close
// has reached the peer" is a fact to wait for, not a guess.)
func TestGracefulCloseLetsCallsFinish(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: time.Millisecond, Max: 5 * time.Millisecond}}, func(t *testing.T, n *sim.Network) {
		inHandler := make(chan struct{})
		release := make(chan struct{})
		var hs rpc.Handlers
		blocks.Implement(&hs, func(ctx context.Context, _ int) (string, error) {
			close(inHandler)
			<-release
			return "finished", nil
		})
		echo.Implement(&hs, func(_ context.Context, e Echo) (Echo, error) { return e, nil })
		srv := simServe(t, n, rpc.Config{Handlers: &hs})

		// The client serves "ask", so that the server can call it.
		var clientHs rpc.Handlers
		ask.Implement(&clientHs, func(_ context.Context, q string) (string, error) { return "yes", nil })
		c := simDial(t, n, rpc.Config{Handlers: &clientHs})
		sc := serverConn(t, n, srv)
		ctx := context.Background()

		inflight := make(chan string, 1)
		go func() {
			r, err := blocks.Call(ctx, c, 1)
			if err != nil {
				r = err.Error()
			}
			inflight <- r
		}()
		<-inHandler
		closed := make(chan error, 1)
		go func() { closed <- c.CloseWithReason(ctx, "maintenance") }()
		settle(n) // the close has started, and the peer has heard of it

		if _, err := echo.Call(ctx, c, Echo{}); !errors.Is(err, rpc.ErrClosed) || !strings.Contains(err.Error(), "closed: maintenance") {
			t.Fatalf("call on a closing connection = %v", err)
		}
		if !sc.IsClosed() {
			t.Fatal("the peer does not know the connection is closing")
		}
		if _, err := ask.Call(ctx, sc, "?"); !errors.Is(err, rpc.ErrClosed) || !strings.Contains(err.Error(), "closed by remote side: maintenance") {
			t.Fatalf("peer's call = %v, want closed by remote side: maintenance", err)
		}
		if len(closed) != 0 {
			t.Fatal("CloseWithReason returned while a call was under way")
		}
		close(release)
		if r := <-inflight; r != "finished" {
			t.Fatalf("call under way = %q, want it to finish", r)
		}
		if err := <-closed; err != nil {
			t.Fatalf("CloseWithReason = %v", err)
		}
		<-sc.Done()
		var ce *rpc.ClosedError
		if err := sc.Err(); !errors.As(err, &ce) || !ce.Remote || ce.Reason != "maintenance" {
			t.Fatalf("server side's reason = %v", sc.Err())
		}
	})
}

// When the close's context ends first, what is under way fails.
func TestCloseDeadlineCutsCallsShort(t *testing.T) {
	inHandler := make(chan struct{})
	var hs rpc.Handlers
	blocks.Implement(&hs, func(ctx context.Context, _ int) (string, error) {
		close(inHandler)
		<-ctx.Done()
		return "", ctx.Err()
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	res := make(chan error, 1)
	go func() { _, err := blocks.Call(patient(t), c, 1); res <- err }()
	<-inHandler
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 50*time.Millisecond)
	defer cancel()
	if err := c.CloseWithReason(ctx, "now"); err != context.DeadlineExceeded {
		t.Fatalf("CloseWithReason = %v, want DeadlineExceeded", err)
	}
	if err := <-res; !errors.Is(err, rpc.ErrClosed) || !strings.Contains(err.Error(), "closed: now") {
		t.Fatalf("the cut call = %v", err)
	}
}

// A peer that vanishes fails every call under way with ErrClosed.
func TestLostConnectionFailsCalls(t *testing.T) {
	inHandler := make(chan struct{})
	var hs rpc.Handlers
	blocks.Implement(&hs, func(ctx context.Context, _ int) (string, error) {
		close(inHandler)
		<-ctx.Done()
		return "", nil
	})
	addr, srv := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	res := make(chan error, 1)
	go func() { _, err := blocks.Call(patient(t), c, 1); res <- err }()
	<-inHandler
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Close(ctx) // no grace: connections close at once
	if err := <-res; !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("call when the server went = %v, want ErrClosed", err)
	}
	<-c.Done()
	if c.Err() == nil {
		t.Fatal("Err() = nil after the connection closed")
	}
}

// breakableConn fails every Write once broken is set, as a connection does
// whose peer went away mid-write.
type breakableConn struct {
	net.Conn
	broken atomic.Bool
}

func (c *breakableConn) Write(p []byte) (int, error) {
	if c.broken.Load() {
		return 0, errors.New("write: broken pipe")
	}
	return c.Conn.Write(p)
}

// A write error closes the connection, before the reader has noticed
// anything: calls under way fail, Done closes. (It used to deadlock: the
// writer's failure handler closed the writer and waited for itself.)
func TestWriteErrorClosesTheConn(t *testing.T) {
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(nil)})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	bc := &breakableConn{Conn: nc}
	c, err := rpc.NewConn(patient(t), bc, rpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bc.broken.Store(true)
	if _, err := echo.Call(patient(t), c, Echo{N: 1}); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("call over a broken connection = %v, want ErrClosed", err)
	}
	select {
	case <-c.Done():
	case <-patient(t).Done():
		t.Fatal("Done did not close after a write error")
	}
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("Err() = %v, want the write error", err)
	}
}
