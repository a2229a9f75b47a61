package persistent_test

import (
	"context"
	"math"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/internal/echo"
	"github.com/tetherkit/tether/persistent"
)

// BenchmarkReconnect measures, over real TCP on 127.0.0.1, the time from a
// server listening again to the persistent connection reporting Connected,
// with a zero retry delay. In the same iteration it times a bare net.Dial to
// the same listener, the floor a reconnect can approach. It reports the
// median and 99th percentile of both, and the ratio of the medians.
//
// Medians, because the tail is the kernel's, not the persistent
// connection's: with a zero delay it dials in a tight loop while the server
// is down, and when a SYN is sent in the instant the listener comes back
// (measured: 40–80 µs before Listen returned) that one DialContext takes
// 9–15 ms, more often as TIME_WAIT tuples pile up over thousands of
// restarts. Resolve, the events and the handoff around it take
// microseconds.
//
//	go test -run '^$' -bench Reconnect -benchtime 2000x ./persistent/
func BenchmarkReconnect(b *testing.B) {
	srv, err := echo.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	clk := clock.Real()
	connected := make(chan struct{}, 1)
	disconnected := make(chan struct{}, 1)
	pc, err := persistent.New(persistent.Config[string, *echo.Conn]{
		ServerName: "bench",
		Resolver:   addr.Static(srv.Addr()),
		Connect:    echo.Dial,
		OnEvent: func(e persistent.Event[string, *echo.Conn]) {
			switch e.Kind {
			case event.Connected:
				connected <- struct{}{}
			case event.Disconnected:
				disconnected <- struct{}{}
			}
		},
		RetryDelay: persistent.Constant(0),
		Jitter:     persistent.NoJitter,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close(context.Background())
	<-connected

	reconnect := make([]time.Duration, 0, b.N)
	dial := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		srv.Stop()
		<-disconnected
		if err := srv.Restart(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		start := clk.Now() // listening again
		<-connected
		reconnect = append(reconnect, clk.Since(start))

		start = clk.Now()
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			b.Fatal(err)
		}
		dial = append(dial, clk.Since(start))
		c.Close()
	}
	b.StopTimer()
	slices.Sort(reconnect)
	slices.Sort(dial)
	b.ReportMetric(float64(percentile(reconnect, 0.5)), "reconnect-p50-ns")
	b.ReportMetric(float64(percentile(reconnect, 0.99)), "reconnect-p99-ns")
	b.ReportMetric(float64(reconnect[len(reconnect)-1]), "reconnect-max-ns")
	b.ReportMetric(float64(percentile(dial, 0.5)), "dial-p50-ns")
	b.ReportMetric(float64(percentile(dial, 0.99)), "dial-p99-ns")
	b.ReportMetric(float64(percentile(reconnect, 0.5))/float64(percentile(dial, 0.5)), "reconnect/dial-p50")
}

// percentile returns the nearest-rank p-quantile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// idleConn is a connection that stays up and costs nothing itself, so that
// BenchmarkIdleMemory measures the persistent connection alone.
type idleConn struct{ done chan struct{} }

func (c *idleConn) Close() error          { close(c.done); return nil }
func (c *idleConn) Done() <-chan struct{} { return c.done }

// BenchmarkIdleMemory measures the memory one idle, connected persistent
// connection holds: heap and goroutine stack, after a GC, divided by the
// number of connections (b.N of them, all alive at once).
//
//	go test -run '^$' -bench IdleMemory -benchtime 10000x ./persistent/
func BenchmarkIdleMemory(b *testing.B) {
	connect := func(context.Context, string) (*idleConn, error) { return &idleConn{done: make(chan struct{})}, nil }
	resolver := addr.Static("server")
	rnd := clock.NewRand(1)
	pcs := make([]*persistent.Conn[string, *idleConn], 0, b.N)
	before := memInUse()
	b.ResetTimer()
	for range b.N {
		pc, err := persistent.New(persistent.Config[string, *idleConn]{
			ServerName: "idle",
			Resolver:   resolver,
			Connect:    connect,
			Rand:       rnd,
		})
		if err != nil {
			b.Fatal(err)
		}
		pcs = append(pcs, pc)
	}
	for _, pc := range pcs {
		if _, err := pc.Connected(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := memInUse()
	b.ReportMetric(float64(after-before)/float64(b.N), "bytes/conn")
	for _, pc := range pcs {
		pc.Close(context.Background())
	}
}

// memInUse is the heap in use plus goroutine stacks, after a collection.
func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}
