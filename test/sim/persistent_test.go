package sim_test

// The persistent connection over the simulated network: through resets,
// partitions and server restarts, and a determinism check on its event
// trace.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/test/sim"
)

// simEcho serves line echo on l until l is closed, then closes its
// connections.
func simEcho(l net.Listener) {
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Go(func() { io.Copy(c, c) })
	}
}

// liveConn is a client connection that checks its peer: it sends a ping
// every interval and closes itself when an echo does not come back within
// timeout, or the stream fails — how a protocol without TCP's help notices a
// partition.
type liveConn struct {
	*persistent.NetConn
}

func dialLive(h *sim.Host, clk clock.Clock, interval, timeout time.Duration) func(context.Context, string) (*liveConn, error) {
	return func(ctx context.Context, a string) (*liveConn, error) {
		ctx, cancel := clock.WithTimeout(ctx, clk, 2*time.Second) // connect timeout
		defer cancel()
		nc, err := h.Dial(ctx, a)
		if err != nil {
			return nil, err
		}
		c := &liveConn{persistent.NewNetConn(nc)}
		go c.check(clk, interval, timeout)
		return c, nil
	}
}

func (c *liveConn) check(clk clock.Clock, interval, timeout time.Duration) {
	defer c.Close()
	r := bufio.NewReader(c.NetConn)
	for n := 0; ; n++ {
		select {
		case <-c.Done():
			return
		case <-clk.After(interval):
		}
		if _, err := fmt.Fprintf(c.NetConn, "ping %d\n", n); err != nil {
			return
		}
		c.SetReadDeadline(clk.Now().Add(timeout))
		if line, err := r.ReadString('\n'); err != nil || line != fmt.Sprintf("ping %d\n", n) {
			return
		}
	}
}

// scenario runs a client with a persistent connection to two replicas and
// the given fault schedule, and returns its trace: the persistent
// connection's events and the network's, each stamped with fake time.
func scenario(t *testing.T, seed uint64, faults func(n *sim.Network, restart func(name string, down time.Duration))) []string {
	var (
		mu    sync.Mutex
		trace []string
	)
	record := func(s string) {
		mu.Lock()
		trace = append(trace, s)
		mu.Unlock()
	}
	cfg := sim.Config{
		Seed:    seed,
		Latency: sim.Latency{Min: time.Millisecond, Max: 40 * time.Millisecond},
		OnEvent: func(e sim.Event) { record("net " + e.String()) },
	}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		clk := n.Clock()
		start := clk.Now()
		listeners := map[string]net.Listener{}
		var servers sync.WaitGroup
		serve := func(name string) {
			l, err := n.Host(name).Listen(":7000")
			if err != nil {
				t.Errorf("listen %s: %v", name, err)
				return
			}
			listeners[name] = l
			servers.Go(func() { simEcho(l) })
		}
		serve("a")
		serve("b")
		restart := func(name string, down time.Duration) {
			listeners[name].Close()
			n.After(down, func() { serve(name) })
		}

		pc, err := persistent.New(persistent.Config[string, *liveConn]{
			ServerName: "echo",
			Resolver:   addr.NewList("a:7000", "b:7000"),
			Connect:    dialLive(n.Host("client"), clk, time.Second, 3*time.Second),
			OnEvent: func(e persistent.Event[string, *liveConn]) {
				at := clk.Since(start)
				switch e.Kind {
				case event.Connected:
					record(fmt.Sprintf("%v connected to %v", at, e.Conn.RemoteAddr()))
				default:
					record(fmt.Sprintf("%v %v", at, e))
				}
			},
			RetryDelay: persistent.Constant(500 * time.Millisecond),
			Clock:      clk,
			Rand:       n.Rand("client"),
		})
		if err != nil {
			t.Fatal(err)
		}
		faults(n, restart)
		clk.Sleep(time.Minute)
		pc.Close(context.Background())
		for _, l := range listeners {
			l.Close()
		}
		servers.Wait()
	})
	return trace
}

// events keeps the persistent connection's part of a trace.
func events(trace []string) []string {
	var out []string
	for _, s := range trace {
		if !strings.HasPrefix(s, "net ") {
			out = append(out, s)
		}
	}
	return out
}

func countPrefix(lines []string, substr string) int {
	n := 0
	for _, s := range lines {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

func TestPersistentThroughReset(t *testing.T) {
	trace := events(scenario(t, 1, func(n *sim.Network, _ func(string, time.Duration)) {
		n.After(10*time.Second, func() { n.Reset("client", "a") })
	}))
	t.Log(strings.Join(trace, "\n"))
	// Connected to a; the reset kills it at 10 s, noticed by the next ping
	// (they go every second); the next attempt rotates to b and connects;
	// Close at the end disconnects.
	want := []string{"attempting to connect", "obtained address a:7000", "connected to a:7000",
		"disconnected", "attempting to connect", "obtained address b:7000", "connected to b:7000",
		"disconnected"}
	if got := kinds(trace); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if d := at(t, trace[3]); d < 10*time.Second || d > 11*time.Second {
		t.Fatalf("disconnected at %v, want within a ping interval after the reset at 10s", d)
	}
}

func TestPersistentThroughPartition(t *testing.T) {
	trace := events(scenario(t, 2, func(n *sim.Network, _ func(string, time.Duration)) {
		// Cut the client off from everything for 20 s.
		n.After(10*time.Second, func() { n.Partition("client", "a"); n.Partition("client", "b") })
		n.After(30*time.Second, n.HealAll)
	}))
	t.Log(strings.Join(trace, "\n"))
	got := kinds(trace)
	// The partition is silent: the connection dies only when its pings go
	// unanswered (3 s), then attempts time out until the heal, then it
	// connects again.
	if got[2] != "connected to a:7000" || got[3] != "disconnected" {
		t.Fatalf("events %q", got)
	}
	lost := at(t, trace[3])
	if lost < 11*time.Second || lost > 14*time.Second {
		t.Fatalf("disconnected at %v, want 1–4 s after the partition at 10 s (a 3 s ping timeout)", lost)
	}
	if countPrefix(got, "failed to connect") == 0 {
		t.Fatalf("no failed attempts during the partition: %q", got)
	}
	last := trace[len(trace)-2] // before Close's disconnected
	if !strings.Contains(last, "connected to") || at(t, last) < 30*time.Second {
		t.Fatalf("last connection %q, want one after the heal at 30 s", last)
	}
	for _, e := range trace {
		if d := at(t, e); strings.Contains(e, "connected to") && d > 10*time.Second && d < 30*time.Second {
			t.Fatalf("connected during the partition: %q", e)
		}
	}
}

func TestPersistentThroughServerRestarts(t *testing.T) {
	trace := events(scenario(t, 3, func(n *sim.Network, restart func(string, time.Duration)) {
		// a goes down for good at 5 s: its listener and connections close.
		n.After(5*time.Second, func() { restart("a", time.Hour) })
		// b restarts at 20 s for 5 s.
		n.After(20*time.Second, func() { restart("b", 5*time.Second) })
	}))
	t.Log(strings.Join(trace, "\n"))
	got := kinds(trace)
	if countPrefix(got, "connected to b:7000") != 2 {
		t.Fatalf("want two connections to b (before and after its restart): %q", got)
	}
	if !slices.Contains(got, "failed to connect: dial sim a:7000: connect: connection refused") {
		t.Fatalf("no refused dial to a while it was down: %q", got)
	}
}

// The same seed gives a byte-identical trace — the persistent connection's
// events and every network event — over 20 runs, at GOMAXPROCS 1, the
// default and 8; another seed gives another trace.
func TestPersistentTraceIsDeterministic(t *testing.T) {
	faults := func(n *sim.Network, restart func(string, time.Duration)) {
		n.After(3*time.Second, func() { n.Reset("client", "a") })
		n.After(8*time.Second, func() { n.Partition("client", "b") })
		n.After(9*time.Second, func() { n.PartitionOneWay("a", "client") })
		n.After(20*time.Second, n.HealAll)
		n.After(25*time.Second, func() { restart("a", 4*time.Second) })
		n.After(40*time.Second, func() { n.Reset("client", "b") })
	}
	hash := func(trace []string) string {
		return fmt.Sprintf("%x", sha256.Sum256([]byte(strings.Join(trace, "\n"))))[:16]
	}
	first := scenario(t, 42, faults)
	want := hash(first)
	if len(events(first)) < 10 {
		t.Fatalf("trace too short to mean anything:\n%s", strings.Join(first, "\n"))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, runtime.NumCPU(), 8} {
		runtime.GOMAXPROCS(procs)
		for run := range 20 {
			if got := scenario(t, 42, faults); hash(got) != want {
				t.Fatalf("GOMAXPROCS=%d run %d: trace %s, want %s; diff from first:\n%s", procs, run, hash(got), want, diff(first, got))
			}
		}
	}
	if hash(scenario(t, 43, faults)) == want {
		t.Fatal("seeds 42 and 43 gave the same trace")
	}
	t.Logf("trace %s: %d lines, %d persistent-connection events", want, len(first), len(events(first)))
}

// kinds strips the timestamps from persistent-connection events.
func kinds(trace []string) []string {
	out := make([]string, len(trace))
	for i, s := range trace {
		_, out[i], _ = strings.Cut(s, " ")
	}
	return out
}

func at(t *testing.T, line string) time.Duration {
	t.Helper()
	s, _, _ := strings.Cut(line, " ")
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("no time in %q", line)
	}
	return d
}

func diff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}
