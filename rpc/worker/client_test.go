package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/rpc/worker"
)

type eventLog chan persistent.Event[string, *rpc.Conn]

func (l eventLog) record(e persistent.Event[string, *rpc.Conn]) { l <- e }

// expect receives the next events and checks their kinds.
func (l eventLog) expect(t *testing.T, ctx context.Context, kinds ...event.Kind) []persistent.Event[string, *rpc.Conn] {
	t.Helper()
	var got []persistent.Event[string, *rpc.Conn]
	for _, k := range kinds {
		e := receive(t, ctx, l)
		if e.Kind != k {
			t.Fatalf("event %v, want %v", e, k)
		}
		got = append(got, e)
	}
	return got
}

// The child crashes: Disconnected; after the retry delay, on the client's
// clock, a new child: Connected, and calls work again.
func TestClientRestartsCrashedWorker(t *testing.T) {
	ctx := testContext(t)
	fc := clock.NewFake(t0)
	events := make(eventLog, 64)
	c, err := worker.NewClient(worker.Config{Func: "test-rpc"}, rpc.ClientConfig{
		OnEvent:    events.record,
		RetryDelay: persistent.Constant(time.Second),
		Jitter:     persistent.NoJitter,
		Clock:      fc,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	evs := events.expect(t, ctx, event.AttemptingToConnect, event.ObtainedAddress, event.Connected)
	if evs[1].Addr != "test-rpc" {
		t.Errorf("obtained address %q, want the worker's name", evs[1].Addr)
	}
	pid1, err := pidMethod.Call(ctx, c, struct{}{})
	if err != nil {
		t.Fatal(err)
	}

	_, err = crashMethod.Call(ctx, c, 3)
	if !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("crash call = %v, want ErrClosed", err)
	}
	mustContain(t, err.Error(), "exited with status 3: crashing on request")
	events.expect(t, ctx, event.Disconnected)
	if _, ok := c.Persistent().CurrentConnection(); ok {
		t.Fatal("a current connection right after Disconnected")
	}

	// The retry delay runs on the fake clock: the next child starts when it
	// has passed.
	fc.Advance(time.Second)
	events.expect(t, ctx, event.AttemptingToConnect, event.ObtainedAddress, event.Connected)
	pid2, err := pidMethod.Call(ctx, c, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if pid2 == pid1 {
		t.Fatalf("the same pid %d after the restart", pid1)
	}
	if got, err := echoMethod.Call(ctx, c, "again"); err != nil || got != "again" {
		t.Fatalf("echo after the restart = %q, %v", got, err)
	}
}

// A child that cannot even shake hands: FailedToConnect says how it exited.
func TestClientReportsFailedStart(t *testing.T) {
	ctx := testContext(t)
	events := make(eventLog, 64)
	c, err := worker.NewClient(worker.Config{Func: "test-crash"}, rpc.ClientConfig{
		OnEvent:    events.record,
		RetryDelay: persistent.Constant(time.Hour),
		Clock:      clock.NewFake(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	evs := events.expect(t, ctx, event.AttemptingToConnect, event.ObtainedAddress, event.FailedToConnect)
	if e := exitError(t, evs[2].Err); e.Code != 3 {
		t.Fatalf("FailedToConnect with %v", evs[2].Err)
	}
	mustContain(t, evs[2].Err.Error(), "boom: disk on fire")
}

func TestNewClientErrors(t *testing.T) {
	if _, err := worker.NewClient(worker.Config{Func: "test-rpc"}, rpc.ClientConfig{Resolver: addr.Static("x")}); err == nil {
		t.Error("NewClient accepted a Resolver")
	}
	if _, err := worker.NewClient(worker.Config{}, rpc.ClientConfig{}); err == nil {
		t.Error("NewClient accepted an empty Config")
	}
}

// A bare Worker is a persistent.Connection too.
func TestPersistentWorker(t *testing.T) {
	ctx := testContext(t)
	events := make(chan event.Kind, 64)
	pc, err := persistent.New(persistent.Config[string, *worker.Worker]{
		ServerName: "echo",
		Resolver:   addr.Static("test-echo"),
		Connect: func(ctx context.Context, name string) (*worker.Worker, error) {
			return worker.Start(ctx, worker.Config{Func: name})
		},
		OnEvent:    func(e persistent.Event[string, *worker.Worker]) { events <- e.Kind },
		RetryDelay: persistent.Constant(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pc.Connected(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.CloseWrite() // the echo loop ends: the child exits
	for receive(t, ctx, events) != event.Disconnected {
	}
	w2, err := pc.Connected(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w2 == w || w2.Pid() == w.Pid() {
		t.Fatal("the same worker after it exited")
	}
	if err := pc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !w2.IsClosed() {
		t.Fatal("the worker is not closed after the persistent connection")
	}
}
