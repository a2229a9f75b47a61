package rpc_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/rpc"
)

// Every way a call can fail maps to one class, and says whether the call
// may have run at the peer.
func TestErrorClasses(t *testing.T) {
	inHandler := make(chan struct{}, 1)
	var hs rpc.Handlers
	fails.Implement(&hs, func(ctx context.Context, how string) (int, error) {
		switch how {
		case "panic":
			panic("bug")
		case "plain":
			return 0, errors.New("no")
		case "notfound":
			return 0, rpc.WithClass(errors.New("no such key"), rpc.NotFound)
		case "block":
			inHandler <- struct{}{}
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return 1, nil
	})
	sized.Implement(&hs, func(_ context.Context, n int) ([]byte, error) { return bytes.Repeat([]byte{'x'}, n), nil })
	rpc.NewMethod[int, int]("typed", 1).Implement(&hs, func(_ context.Context, n int) (int, error) { return n, nil })
	addr, _ := serve(t, rpc.Config{Handlers: &hs, MaxFrameSize: 4096})
	c := dial(t, addr, rpc.Config{MaxFrameSize: 2048})

	call := func(ctx context.Context, how string) error { _, err := fails.Call(ctx, c, how); return err }
	cancelled := func() error {
		ctx, cancel := context.WithCancel(patient(t))
		go func() { <-inHandler; cancel() }()
		return call(ctx, "block")
	}
	expired, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	for _, tc := range []struct {
		name  string
		err   error
		class rpc.Class
		ran   bool
	}{
		{"handler error", call(patient(t), "plain"), rpc.Unknown, true},
		{"handler error with a class", call(patient(t), "notfound"), rpc.NotFound, true},
		{"handler panic", call(patient(t), "panic"), rpc.Internal, true},
		{"unknown method", func() error { _, err := blocks.Call(patient(t), c, 1); return err }(), rpc.Unimplemented, false},
		{"request too large, here", func() error {
			_, err := rpc.NewMethod[[]byte, int]("typed", 1).Call(patient(t), c, make([]byte, 5000))
			return err
		}(), rpc.ResourceExhausted, false},
		{"response too large", func() error { _, err := sized.Call(patient(t), c, 3000); return err }(), rpc.ResourceExhausted, true},
		{"request the peer cannot decode", func() error {
			_, err := rpc.NewMethod[string, int]("typed", 1).Call(patient(t), c, "not an int")
			return err
		}(), rpc.InvalidArgument, false},
		{"deadline passed before sending", call(expired, "ok"), rpc.DeadlineExceeded, false},
		{"cancelled in the handler", cancelled(), rpc.Canceled, true},
	} {
		if got := rpc.ClassOf(tc.err); got != tc.class || (tc.err != nil && rpc.MayHaveRun(tc.err) != tc.ran) {
			t.Errorf("%s: %v: class %v, may have run %v; want %v, %v", tc.name, tc.err, got, rpc.MayHaveRun(tc.err), tc.class, tc.ran)
		}
	}

	c.Close()
	err := call(patient(t), "ok")
	if rpc.ClassOf(err) != rpc.Unavailable || rpc.MayHaveRun(err) {
		t.Errorf("call on a closed connection = %v: class %v, may have run %v", err, rpc.ClassOf(err), rpc.MayHaveRun(err))
	}
}

// A call under way when its connection is lost may have run.
func TestLostConnectionMayHaveRun(t *testing.T) {
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
	srv.Close(ctx)
	if err := <-res; rpc.ClassOf(err) != rpc.Unavailable || !rpc.MayHaveRun(err) {
		t.Fatalf("call cut by the lost connection = %v: class %v, may have run %v", err, rpc.ClassOf(err), rpc.MayHaveRun(err))
	}
}

// A Client without a connection fails with Unavailable (FailFast) or the
// context's class, and the call did not run.
func TestNotConnectedClasses(t *testing.T) {
	c, _ := newClient(t, rpc.ClientConfig{ServerName: "none", Resolver: addr.Static(deadAddress(t)), FailFast: true,
		RetryDelay: persistent.Constant(time.Hour)})
	_, err := who.Call(patient(t), c, struct{}{})
	if rpc.ClassOf(err) != rpc.Unavailable || rpc.MayHaveRun(err) {
		t.Fatalf("fail-fast call = %v: class %v, may have run %v", err, rpc.ClassOf(err), rpc.MayHaveRun(err))
	}
	c2, _ := newClient(t, rpc.ClientConfig{ServerName: "none", Resolver: addr.Static(deadAddress(t)), RetryDelay: persistent.Constant(time.Hour)})
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	_, err = who.Call(ctx, c2, struct{}{})
	if rpc.ClassOf(err) != rpc.DeadlineExceeded || rpc.MayHaveRun(err) {
		t.Fatalf("call past its deadline = %v: class %v, may have run %v", err, rpc.ClassOf(err), rpc.MayHaveRun(err))
	}
}

// statsRecorder is a StatsHandler that keeps what it is told.
type statsRecorder struct {
	mu    sync.Mutex
	tags  []string
	ends  []rpc.CallEnd
	conns []rpc.ConnEvent
}

type tagKey struct{}

func (s *statsRecorder) TagCall(ctx context.Context, info rpc.CallInfo) context.Context {
	side := "server"
	if info.Client {
		side = "client"
	}
	s.mu.Lock()
	s.tags = append(s.tags, side+" "+info.Method.Name+" "+info.Peer.Identification)
	s.mu.Unlock()
	return context.WithValue(ctx, tagKey{}, side)
}

func (s *statsRecorder) HandleCall(ctx context.Context, info rpc.CallInfo, end rpc.CallEnd) {
	if ctx.Value(tagKey{}) == nil {
		panic("HandleCall did not get TagCall's context")
	}
	s.mu.Lock()
	s.ends = append(s.ends, end)
	s.mu.Unlock()
}

func (s *statsRecorder) HandleConn(e rpc.ConnEvent) {
	s.mu.Lock()
	s.conns = append(s.conns, e)
	s.mu.Unlock()
}

func (s *statsRecorder) take() ([]string, []rpc.CallEnd, []rpc.ConnEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e, c := s.tags, s.ends, s.conns
	s.tags, s.ends, s.conns = nil, nil, nil
	return t, e, c
}

// The stats handler sees every call at both ends, with sizes, durations
// and classes, and the connections open and close.
func TestStatsHandler(t *testing.T) {
	var serverStats, clientStats statsRecorder
	hs := echoHandlers(nil)
	fails.Implement(hs, func(context.Context, string) (int, error) { return 0, errors.New("no") })
	addr, _ := serve(t, rpc.Config{Handlers: hs, Stats: &serverStats, Identification: "server"})
	c, err := rpc.Dial(patient(t), nil, "tcp", addr, rpc.Config{Stats: &clientStats, Identification: "client"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := echo.Call(patient(t), c, Echo{Payload: payload, N: 1}); err != nil {
		t.Fatal(err)
	}
	fails.Call(patient(t), c, "x")
	c.Close()

	tags, ends, conns := clientStats.take()
	if len(tags) != 2 || tags[0] != "client echo server" || len(ends) != 2 {
		t.Fatalf("client stats: tags %v, ends %+v", tags, ends)
	}
	if e := ends[0]; e.Err != nil || e.Class != rpc.OK || e.RequestBytes <= len(payload) || e.ResponseBytes != e.RequestBytes || e.Duration <= 0 {
		t.Fatalf("the echo's end: %+v", e)
	}
	if e := ends[1]; e.Class != rpc.Unknown || e.Err == nil {
		t.Fatalf("the failure's end: %+v", e)
	}
	if len(conns) != 2 || conns[0].Closed || !conns[1].Closed || conns[1].Err == nil {
		t.Fatalf("client connection events %+v", conns)
	}
	<-c.Done()
	// The server's side: its handler ends before the client hears back.
	tags, ends, _ = serverStats.take()
	if len(tags) != 2 || tags[0] != "server echo client" || len(ends) != 2 || ends[0].RequestBytes <= len(payload) || ends[1].Class != rpc.Unknown {
		t.Fatalf("server stats: tags %v, ends %+v", tags, ends)
	}
}
