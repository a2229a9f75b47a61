package node_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

var payload16 = []byte("abcdefghijklmnop")

// BenchmarkLocalSend: one sender, one port on the same node, the message
// of the node benchmarks (tag + int64 + 16-byte payload); it counts send
// and delivery: the port counts what it received, and the benchmark waits
// for all of it.
//
//	go test -run '^$' -bench LocalSend -benchtime 20000000x ./node/
func BenchmarkLocalSend(b *testing.B) {
	n, err := node.Start(context.Background(), node.Config{ID: "bench", Rand: clock.NewRand(1)})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	p := n.Port(nil)
	n.Rcv(p, "bench", func(*node.Context, []any) error {
		if got.Add(1) == target {
			close(done)
		}
		return nil
	})
	var payload any = payload16 // boxed once, as a sender that reuses a buffer would
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n.Send(p, "bench", int64(i), payload)
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkIdlePortMemory: bytes of heap per idle port, with b.N ports
// alive at once.
//
//	go test -run '^$' -bench IdlePortMemory -benchtime 1000000x ./node/
func BenchmarkIdlePortMemory(b *testing.B) {
	n, err := node.Start(context.Background(), node.Config{ID: "bench", Rand: clock.NewRand(1)})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	cb := func(*node.Context, []any) error { return nil }
	ports := make([]string, 0, b.N)
	before := heapInUse()
	for range b.N {
		ports = append(ports, n.Port(cb))
	}
	after := heapInUse()
	b.ReportMetric(float64(after-before)/float64(b.N), "bytes/port")
	runtime.KeepAlive(ports)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkIdleLinkMemory: bytes of heap and goroutines per idle link (both
// ends, in one process), with b.N links between b.N+1 nodes: one hub that
// every other node links to.
//
//	go test -run '^$' -bench IdleLinkMemory -benchtime 200x ./node/
func BenchmarkIdleLinkMemory(b *testing.B) {
	ctx := context.Background()
	hub, err := node.Start(ctx, node.Config{ID: "hub", Binds: []string{"127.0.0.1:0"}, Secret: "s", Rand: clock.NewRand(1)})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close(ctx)
	var spokes []*node.Node
	defer func() {
		for _, s := range spokes {
			s.Close(ctx)
		}
	}()
	start := func(i int) *node.Node {
		s, err := node.Start(ctx, node.Config{ID: fmt.Sprintf("spoke%d", i), Secret: "s", Rand: clock.NewRand(uint64(i + 2))})
		if err != nil {
			b.Fatal(err)
		}
		spokes = append(spokes, s)
		return s
	}
	// Nodes without links cost something too: measure from after they
	// start.
	for i := range b.N {
		start(i)
	}
	before, g0 := heapInUse(), runtime.NumGoroutine()
	for _, s := range spokes {
		if _, err := s.AddNode(ctx, hub.Addrs()...); err != nil {
			b.Fatal(err)
		}
	}
	after, g1 := heapInUse(), runtime.NumGoroutine()
	if f := os.Getenv("TETHER_HEAP_PROFILE"); f != "" { // the links' heap, while they live
		out, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		pprof.WriteHeapProfile(out)
		out.Close()
	}
	b.ReportMetric(float64(after-before)/float64(b.N), "bytes/link")
	b.ReportMetric(float64(g1-g0)/float64(b.N), "goroutines/link")
}
