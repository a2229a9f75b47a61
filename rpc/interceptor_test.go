package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetherkit/tether/rpc"
)

// trace records what interceptors and handlers saw, in order.
type trace struct {
	mu  sync.Mutex
	log []string
}

func (tr *trace) add(format string, args ...any) {
	tr.mu.Lock()
	tr.log = append(tr.log, fmt.Sprintf(format, args...))
	tr.mu.Unlock()
}

func (tr *trace) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	l := tr.log
	tr.log = nil
	return l
}

func unaryServer(tr *trace, name string) rpc.UnaryServerInterceptor {
	return func(ctx context.Context, info *rpc.MethodInfo, req any, next rpc.UnaryHandler) (any, error) {
		p, _ := rpc.PeerFromContext(ctx)
		tr.add("%s> %s %s from %s x-b=%s", name, info.Name, info.Kind, p.Identification, rpc.HeaderFromContext(ctx)["x-b"])
		resp, err := next(ctx, req)
		tr.add("<%s", name)
		return resp, err
	}
}

func unaryClient(tr *trace, name string) rpc.UnaryClientInterceptor {
	return func(ctx context.Context, info *rpc.MethodInfo, req, resp any, next rpc.Invoker) error {
		tr.add("%s> %s", name, info.Name)
		err := next(rpc.WithHeader(ctx, "x-"+strings.ToLower(name), name), info, req, resp)
		tr.add("<%s", name)
		return err
	}
}

// Interceptors run in order, the first outermost, on both sides; the
// server's see the method, the peer and the headers the client's added;
// the handler sees them too, and its trailer comes back.
func TestInterceptorsAndMetadata(t *testing.T) {
	var tr trace
	var hs rpc.Handlers
	echo.Implement(&hs, func(ctx context.Context, e Echo) (Echo, error) {
		p, ok := rpc.PeerFromContext(ctx)
		md := rpc.HeaderFromContext(ctx)
		tr.add("handler from %s (%v) x-a=%s x-b=%s x-app=%s", p.Identification, ok, md["x-a"], md["x-b"], md["x-app"])
		rpc.SetTrailer(ctx, "served-by", "s1")
		return e, nil
	})
	notify.Implement(&hs, func(ctx context.Context, e Echo) error {
		tr.add("one-way x-a=%s", rpc.HeaderFromContext(ctx)["x-a"])
		return nil
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs, Identification: "server", Interceptors: rpc.Interceptors{
		Unary: []rpc.UnaryServerInterceptor{unaryServer(&tr, "X"), unaryServer(&tr, "Y")},
	}})
	c := dial(t, addr, rpc.Config{Identification: "client", Interceptors: rpc.Interceptors{
		UnaryClient: []rpc.UnaryClientInterceptor{unaryClient(&tr, "A"), unaryClient(&tr, "B")},
	}})
	if c.Peer().Protocol != 2 {
		t.Fatalf("protocol %d, want 2", c.Peer().Protocol)
	}

	var trailer rpc.Metadata
	ctx := rpc.ReceiveTrailer(rpc.WithHeader(patient(t), "x-app", "7"), &trailer)
	if r, err := echo.Call(ctx, c, Echo{N: 1}); err != nil || r.N != 1 {
		t.Fatalf("call = %+v, %v", r, err)
	}
	want := []string{
		"A> echo", "B> echo",
		"X> echo method from client x-b=B", "Y> echo method from client x-b=B",
		"handler from client (true) x-a=A x-b=B x-app=7",
		"<Y", "<X", "<B", "<A",
	}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Fatalf("trace\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if trailer["served-by"] != "s1" {
		t.Fatalf("trailer %v", trailer)
	}

	// One-way messages go through the unary interceptors too, without a
	// response.
	if err := notify.Send(patient(t), c, Echo{}); err != nil {
		t.Fatal(err)
	}
	if _, err := echo.Call(patient(t), c, Echo{}); err != nil { // served after the message was handled
		t.Fatal(err)
	}
	got := tr.take()
	if !slices.Contains(got, "X> notify one-way from client x-b=B") || !slices.Contains(got, "one-way x-a=A") {
		t.Fatalf("one-way trace %v", got)
	}
}

// A server interceptor can answer in the handler's place: a refusal with
// a class reaches the caller with it.
func TestInterceptorRefuses(t *testing.T) {
	hs := echoHandlers(nil)
	auth := func(ctx context.Context, info *rpc.MethodInfo, req any, next rpc.UnaryHandler) (any, error) {
		if rpc.HeaderFromContext(ctx)["authorization"] != "secret" {
			return nil, rpc.WithClass(errors.New("no valid token"), rpc.Unauthenticated)
		}
		return next(ctx, req)
	}
	addr, _ := serve(t, rpc.Config{Handlers: hs, Interceptors: rpc.Interceptors{Unary: []rpc.UnaryServerInterceptor{auth}}})
	c := dial(t, addr, rpc.Config{})
	_, err := echo.Call(patient(t), c, Echo{})
	var re *rpc.RemoteError
	if rpc.ClassOf(err) != rpc.Unauthenticated || !errors.As(err, &re) || re.Message != "no valid token" {
		t.Fatalf("call without a token = %v (class %v)", err, rpc.ClassOf(err))
	}
	if _, err := echo.Call(rpc.WithHeader(patient(t), "authorization", "secret"), c, Echo{}); err != nil {
		t.Fatalf("call with the token = %v", err)
	}
}

// Stream interceptors can wrap the stream to see its items, on both sides.
func TestStreamInterceptors(t *testing.T) {
	var tr trace
	server := func(ctx context.Context, info *rpc.MethodInfo, req any, st rpc.ServerStreamer, next rpc.StreamHandler) error {
		tr.add("server %s x-s=%s", info.Name, rpc.HeaderFromContext(ctx)["x-s"])
		err := next(ctx, req, countingServer{st, &tr})
		rpc.SetTrailer(ctx, "items", "counted")
		return err
	}
	client := func(ctx context.Context, info *rpc.MethodInfo, req any, next rpc.Streamer) (rpc.ClientStreamer, error) {
		st, err := next(rpc.WithHeader(ctx, "x-s", "1"), info, req)
		if err != nil {
			return nil, err
		}
		return countingClient{st, &tr}, nil
	}
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(nil), Interceptors: rpc.Interceptors{Stream: []rpc.StreamServerInterceptor{server}}})
	c := dial(t, addr, rpc.Config{Interceptors: rpc.Interceptors{StreamClient: []rpc.StreamClientInterceptor{client}}})
	st, err := echoStream.Open(patient(t), c, Echo{N: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Send(Echo{N: 1}); err != nil {
		t.Fatal(err)
	}
	st.CloseSend()
	for i := range 2 {
		if it, err := st.Recv(); err != nil || it.N != int64(i) {
			t.Fatalf("item %d = %+v, %v", i, it, err)
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("end = %v", err)
	}
	if st.Trailer()["items"] != "counted" {
		t.Fatalf("trailer %v", st.Trailer())
	}
	got := tr.take()
	slices.Sort(got)
	want := []string{"client recv", "client recv", "client send", "server echo-stream x-s=1", "server recv", "server send", "server send"}
	if !slices.Equal(got, want) {
		t.Fatalf("trace %v, want %v", got, want)
	}
}

type countingServer struct {
	rpc.ServerStreamer
	tr *trace
}

func (s countingServer) Send(item any) error {
	s.tr.add("server send")
	return s.ServerStreamer.Send(item)
}
func (s countingServer) Recv(req any) error {
	err := s.ServerStreamer.Recv(req)
	if err == nil {
		s.tr.add("server recv")
	}
	return err
}

type countingClient struct {
	rpc.ClientStreamer
	tr *trace
}

func (s countingClient) Send(req any) error {
	s.tr.add("client send")
	return s.ClientStreamer.Send(req)
}
func (s countingClient) Recv(item any) error {
	err := s.ClientStreamer.Recv(item)
	if err == nil {
		s.tr.add("client recv")
	}
	return err
}

// Metadata is bounded: headers too large fail the call before it is sent.
func TestHeadersTooLarge(t *testing.T) {
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(nil)})
	c := dial(t, addr, rpc.Config{})
	ctx := rpc.WithHeader(patient(t), "big", strings.Repeat("x", rpc.MaxMetadataSize))
	_, err := echo.Call(ctx, c, Echo{})
	if !errors.Is(err, rpc.ErrMetadataTooLarge) || rpc.ClassOf(err) != rpc.InvalidArgument || rpc.MayHaveRun(err) {
		t.Fatalf("call with huge headers = %v (class %v, may have run %v)", err, rpc.ClassOf(err), rpc.MayHaveRun(err))
	}
	if _, err := echo.Call(patient(t), c, Echo{}); err != nil {
		t.Fatalf("the next call = %v", err)
	}
}
