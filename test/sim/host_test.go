package sim_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherkit/tether/test/sim"
)

// A crash is atomic: at one instant every connection of the host ends
// (each peer gets an RST one latency later), its listener stops, its
// timers stop, and nothing of it runs any more — its blocked Read, Accept
// and Sleep stay blocked — until the program closes what they wait on.
// The host then restarts as a new incarnation.
func TestCrashAndRestart(t *testing.T) {
	var trace []string
	cfg := sim.Config{
		Latency: sim.Latency{Min: 10 * ms, Max: 10 * ms},
		OnEvent: func(e sim.Event) { trace = append(trace, e.String()) },
	}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		old := n.Host("a")
		l := listen(t, n, "a", ":80")
		defer l.Close()
		accepted := make(chan net.Conn, 2)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}
		}()
		c1 := dial(t, n, "b", "a:80")
		s1 := <-accepted
		c2 := dial(t, n, "c", "a:80")
		s2 := <-accepted
		fromA, err := old.Dial(t.Context(), "b:0") // refused, but the dial itself works
		if err == nil {
			fromA.Close()
			t.Fatal("dial to a port nobody listens on succeeded")
		}

		sw := startWatch(n)
		peerReads := []<-chan result{}
		for _, c := range []net.Conn{c1, c2} {
			r, _ := readAsync(c, sw, 10)
			peerReads = append(peerReads, r)
		}
		ownRead, _ := readAsync(s1, sw, 10)
		timerRan := make(chan struct{})
		old.Clock().AfterFunc(5*ms, func() { close(timerRan) })
		slept := make(chan struct{})
		go func() { old.Clock().Sleep(time.Hour); close(slept) }()

		n.After(time.Millisecond, func() { n.Crash("a") })
		n.Clock().Sleep(time.Minute)
		n.Wait()

		for i, r := range peerReads {
			got := <-r
			if !errors.Is(got.err, syscall.ECONNRESET) || got.at != 11*ms {
				t.Errorf("peer %d: Read = %v after %v, want ECONNRESET after 11ms (crash + latency)", i, got.err, got.at)
			}
		}
		select {
		case r := <-ownRead:
			t.Fatalf("the crashed host's Read returned %d, %v: something of it ran", r.n, r.err)
		case <-timerRan:
			t.Fatal("a timer of the crashed host fired")
		case <-slept:
			t.Fatal("a Sleep on the crashed host's clock returned")
		case _, ok := <-accepted:
			t.Fatalf("the crashed host's Accept returned (ok %v)", ok)
		default:
		}
		if !old.Crashed() {
			t.Fatal("Crashed() = false after the crash")
		}
		if _, err := old.Listen(":81"); !errors.Is(err, sim.ErrCrashed) {
			t.Errorf("Listen on a crashed host = %v, want ErrCrashed", err)
		}
		if _, err := old.Dial(t.Context(), "b:1"); !errors.Is(err, sim.ErrCrashed) {
			t.Errorf("Dial from a crashed host = %v, want ErrCrashed", err)
		}
		if _, err := n.Host("b").Dial(t.Context(), "a:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Dial to the crashed host = %v, want ECONNREFUSED", err)
		}

		// Closing what a frozen goroutine waits on releases it.
		s1.Close()
		if r := <-ownRead; !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("the crashed host's Read after Close = %v, want net.ErrClosed", r.err)
		}
		s2.Close()
		l.Close()
		if _, ok := <-accepted; ok {
			t.Error("Accept returned a connection after Close")
		}

		// The restart: a new incarnation, new randomness, the old port free.
		h := n.Host("a")
		if h == old || h.Incarnation() != 1 || old.Incarnation() != 0 || h.Crashed() {
			t.Fatalf("after the crash Host(a) = %v (crashed %v), old %v", h, h.Crashed(), old)
		}
		if h.Rand("x").Uint64() == old.Rand("x").Uint64() {
			t.Error("the restarted host draws the same random numbers as before")
		}
		l2 := listen(t, n, "a", ":80")
		defer l2.Close()
		go serveEcho(l2)
		c3 := dial(t, n, "b", "a:80")
		defer c3.Close()
		fmt.Fprint(c3, "again")
		got := make([]byte, 5)
		if _, err := io.ReadFull(c3, got); err != nil || string(got) != "again" {
			t.Fatalf("echo from the restarted host: %q, %v", got, err)
		}
		c1.Close()
		c2.Close()
	})
	all := strings.Join(trace, "\n")
	for _, want := range []string{"crash a incarnation 0", "rst b#1 a:80>b:49152", "rst c#1 a:80>c:49152", "restart a incarnation 1", "refuse b#2"} {
		if !strings.Contains(all, want) {
			t.Errorf("trace lacks %q:\n%s", want, all)
		}
	}
}

// A crashed host's timers and frozen goroutines return when the network
// closes, on the base clock, so that the program can wind down.
func TestCrashedHostReleasedByClose(t *testing.T) {
	sim.Test(t, sim.Config{}, func(t *testing.T, n *sim.Network) {
		h := n.Host("a")
		client, server := pair(t, n, "a", "b")
		defer server.Close()
		done := make(chan string, 2)
		go func() {
			h.Clock().Sleep(time.Second)
			done <- "sleep"
		}()
		go func() {
			_, err := client.Read(make([]byte, 1))
			done <- "read: " + kind(err)
		}()
		n.Wait()
		n.Crash("a")
		n.Clock().Sleep(time.Hour)
		n.Wait()
		if len(done) != 0 {
			t.Fatalf("%s returned on a crashed host", <-done)
		}
		n.Close()
		got := map[string]bool{<-done: true, <-done: true}
		if !got["sleep"] || !got["read: reset"] {
			t.Fatalf("after Close: %v", got)
		}
	})
}

// Host clocks: an offset and a drift; the host's timers and deadlines run
// on its clock.
func TestHostClockSkew(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: ms, Max: ms}}, func(t *testing.T, n *sim.Network) {
		h := n.Host("fast")
		n.SetSkew("fast", sim.Skew{Offset: time.Second, Drift: 0.25})
		hc, nc := h.Clock(), n.Clock()
		if d := hc.Now().Sub(nc.Now()); d != time.Second {
			t.Fatalf("offset %v, want 1s", d)
		}
		h0, n0 := hc.Now(), nc.Now()
		nc.Sleep(4 * time.Second)
		if d := hc.Since(h0); d != 5*time.Second {
			t.Fatalf("4s of network time is %v on a clock 25%% fast, want 5s", d)
		}
		n0 = nc.Now()
		hc.Sleep(10 * time.Second)
		if d := nc.Since(n0); d != 8*time.Second {
			t.Fatalf("a 10s Sleep on the fast clock took %v of network time, want 8s", d)
		}

		// A deadline set on the host's clock, 2s of its time: 1.6s.
		client, server := pair(t, n, "fast", "b")
		defer client.Close()
		defer server.Close()
		client.SetReadDeadline(hc.Now().Add(2 * time.Second))
		n0 = nc.Now()
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a timeout", err)
		}
		if d := nc.Since(n0); d != 1600*time.Millisecond {
			t.Fatalf("a 2s deadline on the fast clock passed after %v of network time, want 1.6s", d)
		}

		// A pending timer follows a change of skew.
		fired := make(chan time.Duration, 1)
		n0 = nc.Now()
		hc.AfterFunc(10*time.Second, func() { fired <- nc.Since(n0) })
		nc.Sleep(4 * time.Second)                                                // 5s of the host's
		n.SetSkew("fast", sim.Skew{Offset: hc.Now().Sub(nc.Now()), Drift: -0.5}) // no jump
		if d := <-fired; d != 14*time.Second {
			t.Fatalf("timer fired after %v, want 4s + 5s at half speed = 14s", d)
		}

		// Tickers and timers: Stop, Reset.
		tk := hc.NewTicker(time.Second)
		n0 = nc.Now()
		<-tk.Chan()
		<-tk.Chan()
		tk.Stop()
		if d := nc.Since(n0); d != 4*time.Second {
			t.Fatalf("two ticks of 1s at half speed took %v, want 4s", d)
		}
		tm := hc.NewTimer(time.Second)
		if !tm.Stop() || tm.Stop() {
			t.Fatal("Stop: want true then false")
		}
		if tm.Reset(time.Second) {
			t.Fatal("Reset of a stopped timer = true")
		}
		<-tm.Chan()
		if tm.Reset(time.Second) || !tm.Reset(time.Second) {
			t.Fatal("Reset after firing, then while armed: want false, true")
		}
		tm.Stop()
		nc.Sleep(time.Hour)
		n.Wait()
		select {
		case <-tm.Chan():
			t.Fatal("a stopped timer delivered")
		default:
		}
	})
}

// Timers due at one instant fire one per step, in the order of their
// hosts' names and then of their setting, each after the program settled
// from the one before: what each wakes runs alone, on every run.
func TestTimersAtOneInstantFireInCanonicalOrder(t *testing.T) {
	for range 20 {
		sim.Test(t, sim.Config{}, func(t *testing.T, n *sim.Network) {
			var mu sync.Mutex
			var order []string
			var wg sync.WaitGroup
			for _, name := range []string{"c", "a", "b"} {
				h := n.Host(name)
				for i := range 2 {
					wg.Go(func() {
						h.Clock().Sleep(time.Second)
						// Something that takes a while: another step must
						// not start meanwhile.
						for range 100 {
							mu.Lock()
							mu.Unlock()
						}
						mu.Lock()
						order = append(order, fmt.Sprint(name, i))
						mu.Unlock()
					})
					n.Wait() // set in this order
				}
			}
			wg.Wait()
			if got := strings.Join(order, " "); got != "a0 a1 b0 b1 c0 c1" {
				t.Fatalf("timers fired in order %s", got)
			}
		})
	}
}

// An invariant is checked whenever the world is quiescent; the first that
// fails stops the network and tells the step.
func TestInvariantStopsAtTheFirstBrokenStep(t *testing.T) {
	var traced []sim.Event
	// A network made with New, so that its violation does not fail this
	// test as Test would.
	synctest.Test(t, func(t *testing.T) {
		n := sim.New(sim.Config{
			Latency: sim.Latency{Min: 10 * ms, Max: 10 * ms},
			Quiesce: synctest.Wait,
			OnEvent: func(e sim.Event) { traced = append(traced, e) },
		})
		defer n.Close()
		var mu sync.Mutex
		received, checks := 0, 0
		n.Invariant("fewer than 3 reads", func() error {
			mu.Lock()
			defer mu.Unlock()
			checks++
			if received >= 3 {
				return fmt.Errorf("%d reads", received)
			}
			return nil
		})
		client, server := pair(t, n, "a", "b")
		defer client.Close()
		go func() {
			defer server.Close()
			buf := make([]byte, 1)
			for {
				if _, err := server.Read(buf); err != nil {
					return
				}
				mu.Lock()
				received++
				mu.Unlock()
				n.Host("b").Logf("read %q", buf)
			}
		}()
		for _, b := range "wxyz" {
			client.Write([]byte(string(b)))
			n.Clock().Sleep(time.Second)
		}
		var v *sim.Violation
		if !errors.As(n.Err(), &v) {
			t.Fatalf("Err() = %v, want a *Violation", n.Err())
		}
		if v.Name != "fewer than 3 reads" || v.Err.Error() != "3 reads" || v.At != 2*time.Second+30*ms {
			t.Fatalf("violation %+v", v)
		}
		var lines []string
		for _, e := range v.Trace {
			lines = append(lines, e.String())
		}
		if got, want := strings.Join(lines, "\n"), "2.03s data a#1 a:49152>b:49152 1B\n2.03s log b: read \"y\""; got != want {
			t.Fatalf("the step's trace:\n%s\nwant:\n%s", got, want)
		}
		if checks < 10 {
			t.Fatalf("%d checks: not one per step", checks)
		}
		if _, err := client.Write([]byte("!")); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Write after the violation = %v: the network should have closed", err)
		}
	})
	if last := traced[len(traced)-1].String(); !strings.Contains(last, `read "y"`) {
		t.Fatalf("the trace goes on after the violation: %s", last)
	}
}

// Connection IDs are per dialling host: two hosts that dial at one
// instant, from goroutines that race, get a#1 and b#1 on every run (and
// with no latency, their segments go by connection: a before b).
func TestConnIDsDoNotDependOnRaces(t *testing.T) {
	for range 20 {
		var syns []string
		cfg := sim.Config{OnEvent: func(e sim.Event) {
			if e.Kind == "syn" {
				syns = append(syns, e.Conn.String())
			}
		}}
		sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
			l := listen(t, n, "s", ":1")
			defer l.Close()
			go serveEcho(l)
			var wg sync.WaitGroup
			for _, name := range []string{"b", "a"} {
				h := n.Host(name)
				wg.Go(func() {
					for range 2 {
						c, err := h.Dial(t.Context(), "s:1")
						if err != nil {
							t.Error(err)
							return
						}
						c.Close()
					}
				})
			}
			wg.Wait()
		})
		if got := strings.Join(syns, " "); got != "a#1 a#2 b#1 b#2" {
			t.Fatalf("connections %s, want a#1 a#2 b#1 b#2 (by host, then dial)", got)
		}
	}
}
