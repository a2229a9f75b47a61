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

func BenchmarkCallC64(b *testing.B) {
	c := benchConn(b)
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
