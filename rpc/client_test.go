package rpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/rpc"
)

var who = rpc.NewMethod[struct{}, string]("who", 1)

// replica is an rpc server on a fixed address that can be stopped and
// started again.
type replica struct {
	t    *testing.T
	name string
	addr string
	srv  *rpc.Server
	done chan struct{}
}

func startReplica(t *testing.T, name, address string) *replica {
	t.Helper()
	r := &replica{t: t, name: name, addr: address}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) start() {
	r.t.Helper()
	hs := echoHandlers(nil)
	who.Implement(hs, func(context.Context, struct{}) (string, error) { return r.name, nil })
	s, err := rpc.NewServer(rpc.Config{Handlers: hs, Identification: r.name})
	if err != nil {
		r.t.Fatal(err)
	}
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr, r.srv, r.done = l.Addr().String(), s, make(chan struct{})
	go func() { s.Serve(l); close(r.done) }()
}

func (r *replica) stop() {
	if r.srv == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: like a crash
	r.srv.Close(ctx)
	<-r.done
	r.srv = nil
}

func newClient(t *testing.T, cfg rpc.ClientConfig) (*rpc.Client, <-chan persistent.Event[string, *rpc.Conn]) {
	t.Helper()
	evs := make(chan persistent.Event[string, *rpc.Conn], 100)
	cfg.OnEvent = func(e persistent.Event[string, *rpc.Conn]) { evs <- e }
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = persistent.Constant(20 * time.Millisecond)
	}
	c, err := rpc.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, evs
}

func awaitEvent(t *testing.T, evs <-chan persistent.Event[string, *rpc.Conn], k event.Kind) persistent.Event[string, *rpc.Conn] {
	t.Helper()
	ctx := patient(t)
	for {
		select {
		case e := <-evs:
			if e.Kind == k {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("no %v event", k)
		}
	}
}

func TestClientSurvivesAServerRestart(t *testing.T) {
	r := startReplica(t, "a", "127.0.0.1:0")
	c, evs := newClient(t, rpc.ClientConfig{ServerName: "echo", Resolver: addr.Static(r.addr)})
	if got, err := who.Call(patient(t), c, struct{}{}); err != nil || got != "a" {
		t.Fatalf("first call = %q, %v", got, err)
	}
	r.stop()
	awaitEvent(t, evs, event.Disconnected)

	// While it is down, a call with a short deadline fails, naming the
	// persistent connection.
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 50*time.Millisecond)
	_, err := who.Call(ctx, c, struct{}{})
	cancel()
	var e *rpc.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &e) || e.Conn != "persistent connection to echo" {
		t.Fatalf("call while down = %v, want DeadlineExceeded from persistent connection to echo", err)
	}
	// A patient call waits for the restart.
	res := make(chan error, 1)
	go func() { _, err := who.Call(patient(t), c, struct{}{}); res <- err }()
	r.start()
	if err := <-res; err != nil {
		t.Fatalf("call across the restart = %v", err)
	}
	conn, _ := c.Conn(patient(t))
	if conn.String() != "persistent connection to echo" {
		t.Fatalf("connection description %q", conn)
	}
}

func TestClientFailsOverBetweenReplicas(t *testing.T) {
	a, b := startReplica(t, "a", "127.0.0.1:0"), startReplica(t, "b", "127.0.0.1:0")
	c, evs := newClient(t, rpc.ClientConfig{ServerName: "echo", Resolver: addr.NewList(a.addr, b.addr)})
	if got, _ := who.Call(patient(t), c, struct{}{}); got != "a" {
		t.Fatalf("served by %q, want a", got)
	}
	a.stop()
	awaitEvent(t, evs, event.Disconnected)
	if got, err := who.Call(patient(t), c, struct{}{}); err != nil || got != "b" {
		t.Fatalf("after a went down: served by %q, %v; want b", got, err)
	}
}

// deadAddress returns an address where nothing listens.
func deadAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	return dead
}

// FailFast returns the outcome of the attempt under way, or at once the
// last attempt's error: it never waits for the next attempt (an hour away
// here). It used to wait for the next attempt when the call came just
// after one had failed.
func TestClientFailFast(t *testing.T) {
	c, evs := newClient(t, rpc.ClientConfig{ServerName: "echo", Resolver: addr.Static(deadAddress(t)), FailFast: true,
		RetryDelay: persistent.Constant(time.Hour)})
	for i := range 3 { // the first may find the first attempt under way; the others find it failed
		_, err := who.Call(patient(t), c, struct{}{})
		var nc *rpc.NotConnectedError
		if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &nc) || !strings.Contains(err.Error(), "persistent connection to echo") {
			t.Fatalf("fail-fast call %d = %v, want connection refused from persistent connection to echo", i, err)
		}
	}
	awaitEvent(t, evs, event.FailedToConnect)
	if _, err := who.Call(patient(t), c, struct{}{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("fail-fast call after the failure = %v", err)
	}
}

// A call that waits for a connection and runs out of time says how the
// last attempt failed, besides the deadline.
func TestClientDeadlineWrapsTheLastConnectError(t *testing.T) {
	c, evs := newClient(t, rpc.ClientConfig{ServerName: "echo", Resolver: addr.Static(deadAddress(t)),
		RetryDelay: persistent.Constant(time.Hour)})
	awaitEvent(t, evs, event.FailedToConnect)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := who.Call(ctx, c, struct{}{})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, syscall.ECONNREFUSED) ||
		!strings.Contains(err.Error(), "while not connected (last connection attempt: ") {
		t.Fatalf("call = %v, want Canceled while not connected, with the last attempt's refusal", err)
	}
}

// Client.Close is graceful: new calls fail at once (Unavailable, not run),
// calls under way finish, then it closes.
func TestClientCloseIsGraceful(t *testing.T) {
	inHandler, release := make(chan struct{}), make(chan struct{})
	hs := echoHandlers(nil)
	blocks.Implement(hs, func(ctx context.Context, _ int) (string, error) {
		close(inHandler)
		<-release
		return "finished", nil
	})
	address, _ := serve(t, rpc.Config{Handlers: hs})
	c, _ := newClient(t, rpc.ClientConfig{ServerName: "blocks", Resolver: addr.Static(address)})
	res := make(chan string, 1)
	go func() {
		r, err := blocks.Call(patient(t), c, 1)
		if err != nil {
			r = err.Error()
		}
		res <- r
	}()
	<-inHandler
	closed := make(chan error, 1)
	go func() { closed <- c.Close(patient(t)) }()
	ctx := patient(t)
	for { // Close has started once new calls fail
		_, err := echo.Call(ctx, c, Echo{})
		if err != nil {
			if rpc.ClassOf(err) != rpc.Unavailable || rpc.MayHaveRun(err) || !strings.Contains(err.Error(), "the client is closing") {
				t.Fatalf("call on a closing client = %v", err)
			}
			break
		}
	}
	if len(closed) != 0 {
		t.Fatal("Close returned while a call was under way")
	}
	close(release)
	if r := <-res; r != "finished" {
		t.Fatalf("the call under way = %q", r)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
}
