package node_test

// Regression tests for bugs the simulation tests found in the node
// package, each failing before its fix. Each comment tells the bug as it
// was found; the fixes are in link.go (simultaneous connects, the queue on
// connect, mon1/mon0 order) and wire.go (a message that cannot be encoded
// fails the link).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/node/aemp"
	"github.com/tetherkit/tether/test/sim"
)

// Bug: two nodes that AddNode each other at the same instant each keep a
// different connection and close the other one, so both links die at once
// ("switched connections"): monitors fire, node-down events, and the
// messages sent meanwhile are lost, although both AddNode calls succeeded.
// AddNode's dial does not set link.dialing, so checkIncoming's tie-break
// never applies to it. Seeds 1 and 2 fail every time; 3 and 4 pass.
func TestSimBugSimultaneousAddNode(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cfg := sim.Config{Seed: seed, Latency: sim.Latency{Min: time.Millisecond, Max: 10 * time.Millisecond}}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
				c := newSimCluster(t, n, simOpts{coalesce: seed%2 == 0}, "a", "b")
				defer c.close()
				a, b := c.node("a"), c.node("b")
				w := newConnectWatch(a, b)
				var wg sync.WaitGroup
				var errA, errB error
				wg.Go(func() { _, errA = a.AddNode(context.Background(), "b:4000") })
				wg.Go(func() { _, errB = b.AddNode(context.Background(), "a:4000") })
				wg.Wait()
				if errA != nil || errB != nil {
					t.Errorf("AddNode: a: %v, b: %v", errA, errB)
				}
				w.reach(a, "b", 5)
				w.reach(b, "a", 5)
				simSettle(n, 5*time.Second)
				if err := w.check(a, b, 5); err != nil {
					t.Error(err)
				}
			})
		})
	}
}

// Bug: the tie-break of simultaneous connects depends on the smaller node
// (a) dialing when the greeting of b's connection arrives. Here b dials
// first (#3); a accepts it at its greeting, since a is not dialing yet; a
// then starts its own dial (#4) 36 ms later, while #3's handshake is still
// under way, and b — dialing, larger ID — accepts #4. Each node completes
// its own outgoing handshake first and attaches it (a: #4, b: #3), then
// refuses the other as "already connected" and closes it: each side's
// current connection is closed by the other, both links fail with EOF,
// monitors fire on both sides and the 20 messages each sent are lost.
//
// Deterministic: seed 98, latency 1–40 ms, no write coalescing (so the
// handshake's auth line leaves in a segment of its own).
func TestSimBugLateSecondDial(t *testing.T) {
	cfg := sim.Config{Seed: 98, Latency: sim.Latency{Min: time.Millisecond, Max: 40 * time.Millisecond}}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		if err := simSimultaneous(t, n, 99, -36*time.Millisecond); err != nil {
			t.Error(err)
		}
	})
}

// Bug: messages queued while a link connects can be overtaken by a message
// sent later by the same port. link.attach publishes the connection
// (l.cur = c) and starts its reader before it hands the queue to it, so a
// send that sees l.cur goes straight to the connection while the queue is
// still being written: here port P on a queues 20000 messages for port Q on
// b while the link is down; when it comes up, b (on its node-up event)
// pokes P in the same segment as its last handshake line, and P sends
// "after" to Q — which reaches Q before the tail of the queue.
//
// It needs real parallelism (attach's loop against the reader and the
// executor), so the test sets GOMAXPROCS to at least 2; with 1 it passes.
// Which seeds fail varies from run to run: about two thirds of them under
// -race, a fifth to a third without; the test stops after three.
func TestSimBugQueueOvertakenOnConnect(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	failed := 0
	for seed := uint64(1); seed <= 30 && failed < 3; seed++ {
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cfg := sim.Config{Seed: seed, Latency: sim.Latency{Min: time.Millisecond, Max: 10 * time.Millisecond}}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
				// A nanosecond of write coalescing puts b's first frame in
				// the segment of its last handshake line, as TCP would.
				c := newSimCluster(t, n, simOpts{coalesce: true, nagle: time.Nanosecond, shards: 2}, "a", "b")
				defer c.close()
				a, b := c.node("a"), c.node("b")
				var mu sync.Mutex
				var got []any
				q := b.Port(func(_ *node.Context, msg []any) error {
					mu.Lock()
					got = append(got, msg[0])
					mu.Unlock()
					return nil
				})
				const N = 20000
				p := a.Port(func(ctx *node.Context, msg []any) error {
					switch msg[0] {
					case "go":
						for i := range N {
							ctx.Send(q, i)
						}
					case "poke":
						ctx.Send(q, "after")
					}
					return nil
				})
				c.link("a", "b")
				simSettle(n, 100*time.Millisecond)
				n.Reset("a", "b") // a knows b's address; the link is down
				simSettle(n, time.Second)
				b.MonitorNodes(func(_ string, up bool, _ []any) {
					if up {
						b.Send(p, "poke")
					}
				})
				a.Send(p, "go") // queues N messages and connects
				simSettle(n, 2*time.Second)
				mu.Lock()
				defer mu.Unlock()
				if len(got) != N+1 {
					t.Fatalf("q received %d messages, want %d", len(got), N+1)
				}
				for i, m := range got {
					if m == "after" && i != N {
						t.Fatalf(`"after", sent by p after its %d queued messages, arrived after only %d of them`, N, i)
					}
				}
			})
		})
		if !ok {
			failed++
		}
	}
}

// Bug: a monitor on a remote port can be lost on the remote side when
// Guard.Stop of the last monitor on that port and a new Monitor of it run
// concurrently on the monitoring node: monitorRemote decides first/last
// under l.mu but sends mon1/mon0 after unlocking, so the two frames can
// leave in the wrong order (mon1, then mon0). The remote node then stops
// watching the port while a still holds a monitor, which never fires when
// the port dies — and a Call without deadline (it monitors its target, and
// stops the monitor when it returns) can hang for ever the same way.
//
// 2000 concurrent Stop/Monitor pairs; typically 4–10 % of them lose their
// monitor on a 2-core machine.
func TestSimBugMonitorStopRace(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	cfg := sim.Config{Seed: 1, Latency: sim.Latency{Min: time.Millisecond, Max: 2 * time.Millisecond}}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		c := newSimCluster(t, n, simOpts{}, "a", "b")
		defer c.close()
		a, b := c.node("a"), c.node("b")
		c.link("a", "b")
		const rounds, perRound = 100, 20
		lost := 0
		for range rounds {
			var ports []string
			var old []node.Guard
			for range perRound {
				p := b.Port(func(*node.Context, []any) error { return nil })
				ports = append(ports, p)
				old = append(old, a.Monitor(p, node.Func(func([]any) {})))
			}
			simSettle(n, 10*time.Millisecond) // b has every mon1
			var fired [perRound]atomic.Bool
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range perRound {
				wg.Go(func() { <-start; old[i].Stop() })
				wg.Go(func() {
					<-start
					a.Monitor(ports[i], node.Func(func([]any) { fired[i].Store(true) }))
				})
			}
			close(start)
			wg.Wait()
			simSettle(n, 10*time.Millisecond)
			for _, p := range ports {
				b.Kill(p, "gone")
			}
			simSettle(n, 10*time.Millisecond)
			for i := range perRound {
				if !fired[i].Load() {
					lost++
				}
			}
		}
		if lost > 0 {
			t.Errorf("%d of %d monitors never fired although their port died", lost, rounds*perRound)
		}
	})
}

// A message whose encoding exceeds the frame limit is refused: Send
// returns the *aemp.FrameError, the message goes nowhere, and nothing else
// is affected — the messages before and after it arrive, the link stays
// up, no monitor fires. (Once such a message was dropped with a log line
// only, a silent hole; then it failed the whole link. Node a's frames are
// encoded with its own Limits.MaxFrame, 4 KiB here.)
func TestSimOversizedMessageIsRefused(t *testing.T) {
	cfg := sim.Config{Seed: 1, Latency: sim.Latency{Min: time.Millisecond, Max: 10 * time.Millisecond}}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		c := newSimCluster(t, n, simOpts{}, "b")
		c.start("a", simOpts{limits: node.Limits{MaxFrame: 4 << 10}})
		defer c.close()
		a, b := c.node("a"), c.node("b")
		var mu sync.Mutex
		var got []int64
		var fired []string
		q := b.Port(func(_ *node.Context, msg []any) error {
			mu.Lock()
			got = append(got, msg[0].(int64))
			mu.Unlock()
			return nil
		})
		c.link("a", "b")
		a.Monitor(q, node.Func(func(r []any) {
			mu.Lock()
			fired = append(fired, simReason(r))
			mu.Unlock()
		}))
		errs := []error{
			a.Send(q, 0, "small"),
			a.Send(q, 1, string(make([]byte, 8<<10))), // over a's 4 KiB frame limit
			a.Send(q, 2, "small"),
		}
		simSettle(n, time.Second)
		mu.Lock()
		defer mu.Unlock()
		var fe *aemp.FrameError
		if errs[0] != nil || !errors.As(errs[1], &fe) || errs[2] != nil {
			t.Errorf("Send returned %v; want nil, a *aemp.FrameError, nil", errs)
		}
		if !slices.Equal(got, []int64{0, 2}) || len(fired) != 0 {
			t.Errorf("q received %v, the monitor fired %v; want [0 2] and no firing", got, fired)
		}
	})
}
