package rpc_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tetherkit/tether/rpc"
)

// In-process benchmarks over loopback TCP, with the peer benchmarks' shapes
// (request = 16-byte payload + int64, echoed). The cross-process figures,
// side by side with grpc-go, net/rpc and NATS, come from bench/.

func benchConn(b *testing.B) *rpc.Conn {
	addr, _ := serve(b, rpc.Config{Handlers: echoHandlers(nil)})
	return dial(b, addr, rpc.Config{})
}

// noopStats is a StatsHandler that does nothing: what leaving the hook on
// costs.
type noopStats struct{}

func (noopStats) TagCall(ctx context.Context, _ rpc.CallInfo) context.Context { return ctx }
func (noopStats) HandleCall(context.Context, rpc.CallInfo, rpc.CallEnd)       {}
func (noopStats) HandleConn(rpc.ConnEvent)                                    {}

func passUnary(ctx context.Context, info *rpc.MethodInfo, req any, next rpc.UnaryHandler) (any, error) {
	return next(ctx, req)
}

func passUnaryClient(ctx context.Context, info *rpc.MethodInfo, req, resp any, next rpc.Invoker) error {
	return next(ctx, info, req, resp)
}

func passStream(ctx context.Context, info *rpc.MethodInfo, req any, st rpc.ServerStreamer, next rpc.StreamHandler) error {
	return next(ctx, req, st)
}

func passStreamClient(ctx context.Context, info *rpc.MethodInfo, req any, next rpc.Streamer) (rpc.ClientStreamer, error) {
	return next(ctx, info, req)
}

// instrumented is a connection with a no-op stats handler and one
// pass-through interceptor of each kind at both ends.
func instrumented(b *testing.B) *rpc.Conn {
	ics := rpc.Interceptors{
		Unary: []rpc.UnaryServerInterceptor{passUnary}, Stream: []rpc.StreamServerInterceptor{passStream},
		UnaryClient: []rpc.UnaryClientInterceptor{passUnaryClient}, StreamClient: []rpc.StreamClientInterceptor{passStreamClient},
	}
	addr, _ := serve(b, rpc.Config{Handlers: echoHandlers(nil), Stats: noopStats{}, Interceptors: ics})
	return dial(b, addr, rpc.Config{Stats: noopStats{}, Interceptors: ics})
}

// BenchmarkCallC64Hooks is BenchmarkCallC64 with the stats hook and an
// interceptor at both ends, for comparison side by side: -bench 'CallC64'.
func BenchmarkCallC64Hooks(b *testing.B) { callC64(b, instrumented(b)) }

func BenchmarkCallC1(b *testing.B) {
	c := benchConn(b)
	ctx := context.Background()
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		n++
		if _, err := echo.Call(ctx, c, Echo{Payload: payload, N: n}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCallC64(b *testing.B) { callC64(b, benchConn(b)) }

func callC64(b *testing.B, c *rpc.Conn) {
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32) // × GOMAXPROCS 2 = 64 callers on one connection
	b.RunParallel(func(pb *testing.PB) {
		var n int64
		for pb.Next() {
			n++
			if _, err := echo.Call(ctx, c, Echo{Payload: payload, N: n}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkStream(b *testing.B) {
	c := benchConn(b)
	ctx := context.Background()
	b.ReportAllocs()
	st, err := echoStream.Open(ctx, c, Echo{Payload: payload})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Recv(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range b.N {
			if err := st.Send(Echo{Payload: payload, N: int64(i)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for range b.N {
		if _, err := st.Recv(); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}

func BenchmarkOneWay(b *testing.B) {
	got := make(chan Echo, 1024)
	addr, _ := serve(b, rpc.Config{Handlers: echoHandlers(got)})
	c := dial(b, addr, rpc.Config{})
	ctx := context.Background()
	b.ReportAllocs()
	done := make(chan struct{})
	go func() {
		for range b.N {
			<-got
		}
		close(done)
	}()
	for i := range b.N {
		if err := notify.Send(ctx, c, Echo{Payload: payload, N: int64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}
