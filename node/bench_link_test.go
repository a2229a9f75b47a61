package node_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// Two nodes in one process, linked over loopback TCP, with nodebench's
// shapes (bench/nodebench runs them in two processes, next to the peers).
// CI runs these briefly as a regression guard; to compare two versions,
// see "Benchmarks" in the README (benchstat).

// linkedPair starts nodes a and b on 127.0.0.1, linked.
func linkedPair(b *testing.B) (*node.Node, *node.Node) {
	b.Helper()
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 10*time.Second)
	defer cancel()
	var ns [2]*node.Node
	for i, id := range []string{"bench-a", "bench-b"} {
		n, err := node.Start(ctx, node.Config{ID: id, Binds: []string{"127.0.0.1:0"}, Secret: "bench", Rand: clock.NewRand(uint64(i + 1))})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close(context.Background()) })
		ns[i] = n
	}
	if _, err := ns[0].AddNode(ctx, ns[1].Addrs()...); err != nil {
		b.Fatal(err)
	}
	return ns[0], ns[1]
}

// BenchmarkPingPong: a ping from outside port context on node A to a port
// on node B, which answers with a pong to A's port; one outstanding. ns/op
// is the round trip; p50 and p99 are reported too.
//
//	go test -run '^$' -bench PingPong -benchtime 20000x ./node/
func BenchmarkPingPong(b *testing.B) {
	a, nb := linkedPair(b)
	pong := nb.Port(nil)
	nb.Rcv(pong, "ping", func(c *node.Context, msg []any) error {
		c.Send(msg[2].(string), "pong", msg[0], msg[1])
		return nil
	})
	replies := make(chan struct{}, 1)
	me := a.Port(nil)
	a.Rcv(me, "pong", func(*node.Context, []any) error { replies <- struct{}{}; return nil })
	var payload any = payload16
	clk := clock.Real()
	rtts := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		t0 := clk.Now()
		a.Send(pong, "ping", i, payload, me)
		<-replies
		rtts = append(rtts, clk.Since(t0))
		i++
	}
	reportPercentiles(b, rtts)
}

// BenchmarkOneWay: node A sends b.N messages (tag, int64, 16-byte payload)
// to a port on node B as fast as Send lets it; the benchmark ends when B's
// port has counted them all, so ns/op is per message delivered.
//
//	go test -run '^$' -bench OneWay -benchtime 2000000x ./node/
func BenchmarkOneWay(b *testing.B) {
	a, nb := linkedPair(b)
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	sink := nb.Port(nil)
	nb.Rcv(sink, "bench", func(*node.Context, []any) error {
		if got.Add(1) == target {
			close(done)
		}
		return nil
	})
	var payload any = payload16
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		a.Send(sink, "bench", int64(i), payload)
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSpread: node A sends b.N messages round robin to a port on
// each of 16 other nodes, over 16 links, as fast as Send lets it — traffic
// spread thin over links, as in a mesh; ns/op is per message delivered.
//
//	go test -run '^$' -bench Spread -benchtime 2000000x ./node/
func BenchmarkSpread(b *testing.B) {
	const spokes = 16
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 10*time.Second)
	defer cancel()
	start := func(id string, seed uint64) *node.Node {
		n, err := node.Start(ctx, node.Config{ID: id, Binds: []string{"127.0.0.1:0"}, Secret: "bench", Rand: clock.NewRand(seed)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close(context.Background()) })
		return n
	}
	a := start("bench-a", 1)
	var got atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	sinks := make([]string, spokes)
	for i := range sinks {
		n := start(fmt.Sprintf("bench-%d", i), uint64(i+2))
		sinks[i] = n.Port(nil)
		n.Rcv(sinks[i], "bench", func(*node.Context, []any) error {
			if got.Add(1) == target {
				close(done)
			}
			return nil
		})
		if _, err := a.AddNode(ctx, n.Addrs()...); err != nil {
			b.Fatal(err)
		}
	}
	var payload any = payload16
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		a.Send(sinks[i%spokes], "bench", int64(i), payload)
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// reportPercentiles reports the nearest-rank p50 and p99 of rtts, in µs.
func reportPercentiles(b *testing.B, rtts []time.Duration) {
	if len(rtts) == 0 {
		return
	}
	slices.Sort(rtts)
	at := func(p float64) float64 {
		return float64(rtts[max(int(math.Ceil(p*float64(len(rtts))))-1, 0)]) / float64(time.Microsecond)
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
