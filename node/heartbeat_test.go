package node_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// cutProxy forwards TCP connections to target until cut, then drops
// every byte both ways without closing anything: a silent partition, on
// real sockets.
type cutProxy struct {
	ln  net.Listener
	cut atomic.Bool
	wg  sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	var conns []net.Conn
	var mu sync.Mutex
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			p.wg.Go(func() { p.pipe(in, out) })
			p.wg.Go(func() { p.pipe(out, in) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF && !p.cut.Load() {
				to.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

// Heartbeats over real TCP: an idle link stays up, each node hearing a
// heartbeat every interval; once the path between them goes silent
// (nothing arrives, nothing closes), both fail the link with a heartbeat
// timeout — not before limit intervals of silence have passed. The wall
// clock runs here (the sweeps' tickers, the raw writes of the heartbeats
// are what is tested), with a timeout ten intervals long, so that a loaded
// machine cannot fake a silence.
func TestHeartbeatsOverTCP(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, time.Second
	clk := clock.Real()
	type beat struct{ at, peer string }
	beats := make(chan beat, 1024)
	start := func(id string) *node.Node {
		n, err := node.Start(context.Background(), node.Config{
			ID: id, Binds: []string{"127.0.0.1:0"}, Secret: "hb", Rand: clock.NewRand(uint64(len(id))),
			Heartbeat: interval, HeartbeatTimeout: timeout,
			Trace: func(peer string, out bool, frame []any) {
				if !out && len(frame) == 0 {
					select {
					case beats <- beat{id, peer}:
					default:
					}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(context.Background()) })
		return n
	}
	a, b := start("a"), start("bb")
	proxy := newCutProxy(t, b.Addrs()[0])
	ctx, cancel := clock.WithTimeout(context.Background(), clk, goldenPatience)
	defer cancel()
	if _, err := a.AddNode(ctx, proxy.ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	type fired struct {
		what string
		at   time.Time
	}
	down := make(chan fired, 2)
	a.Monitor("bb", node.Func(func(reason []any) { down <- fired{"a: " + node.FormatReason(reason), clk.Now()} }))
	b.Monitor("a", node.Func(func(reason []any) { down <- fired{"bb: " + node.FormatReason(reason), clk.Now()} }))

	// Up: five heartbeats heard at each end.
	heard := map[string]int{}
	for heard["a"] < 5 || heard["bb"] < 5 {
		select {
		case hb := <-beats:
			heard[hb.at]++
		case d := <-down:
			t.Fatalf("an idle link with heartbeats failed: %s", d.what)
		case <-ctx.Done():
			t.Fatalf("heartbeats heard: %v", heard)
		}
	}

	// Silence.
	cut := clk.Now()
	proxy.cut.Store(true)
	for range 2 {
		select {
		case d := <-down:
			if !strings.Contains(d.what, "heartbeat timeout") {
				t.Errorf("monitor fired with %q, want a heartbeat timeout", d.what)
			}
			if after := d.at.Sub(cut); after < timeout-interval {
				t.Errorf("%s: after %v of silence, before the timeout of %v", d.what, after, timeout)
			}
		case <-ctx.Done():
			t.Fatal("the silent link did not fail")
		}
	}
}
