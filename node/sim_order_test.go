package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// Ordering: node a sends numbered streams to one port on node b over a link
// with random latency — from a plain goroutine with random pauses, from a
// port's callbacks on timer ticks, from a process, and from a goroutine that
// sends its whole stream in one burst while the link is still connecting —
// and b receives every stream complete and in order.
//
// Invariant, for each sender s: the port on b receives exactly
// (s,0), (s,1), …, (s,N-1), in that order (no loss, no duplicate, no
// reordering). The link was reset just before, so the first messages queue
// while it reconnects and go out when it comes up.
func TestSimOrdering(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cfg := sim.Config{Seed: seed, Latency: sim.Latency{Min: time.Millisecond, Max: 30 * time.Millisecond}}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
				simOrdering(t, n, seed)
			})
		})
	}
}

func simOrdering(t *testing.T, n *sim.Network, seed uint64) {
	c := newSimCluster(t, n, simOpts{shards: 2, coalesce: seed%2 == 0}, "a", "b")
	defer c.close()
	a, b := c.node("a"), c.node("b")
	clk := n.Clock()

	const senders, perSender = 4, 150
	var mu sync.Mutex
	got := make([][]int64, senders)
	q := b.Port(func(_ *node.Context, msg []any) error {
		s, k := msg[0].(int64), msg[1].(int64)
		mu.Lock()
		got[s] = append(got[s], k)
		mu.Unlock()
		return nil
	})
	c.link("a", "b")
	// Reset the idle link: the next sends queue until a new one is up.
	n.Reset("a", "b")
	n.Wait()

	var wg sync.WaitGroup
	// 0: a goroutine, with random pauses (sometimes none: bursts).
	r0 := n.Rand("sender-0")
	wg.Go(func() {
		for k := range perSender {
			a.Send(q, 0, k)
			if r0.IntN(3) == 0 {
				clk.Sleep(time.Duration(r0.IntN(int(20 * time.Millisecond))))
			}
		}
	})
	// 1: a port that sends a few messages on each tick of a timer.
	r1 := n.Rand("sender-1")
	done1 := make(chan struct{})
	next1 := 0
	var ticker string
	ticker = a.Port(func(ctx *node.Context, _ []any) error {
		for range 1 + r1.IntN(5) {
			if next1 == perSender {
				break
			}
			ctx.Send(q, 1, next1)
			next1++
		}
		if next1 == perSender {
			close(done1)
			ctx.Kill()
			return nil
		}
		a.After(time.Duration(r1.IntN(int(15*time.Millisecond))), ticker, "tick")
		return nil
	})
	a.Send(ticker, "tick")
	// 2: a process, pausing with Receive timeouts.
	r2 := n.Rand("sender-2")
	done2 := make(chan struct{})
	a.Go(func(p *node.Process) error {
		defer close(done2)
		for k := range perSender {
			p.Send(q, 2, k)
			ctx, cancel := clock.WithTimeout(context.Background(), clk, time.Duration(1+r2.IntN(int(10*time.Millisecond))))
			p.Receive(ctx) // no cases: waits out the timeout
			cancel()
		}
		return nil
	})
	// 3: the whole stream at once, while the link is connecting.
	for k := range perSender {
		a.Send(q, 3, k)
	}
	wg.Wait()
	<-done1
	<-done2
	simSettle(n, time.Second)

	mu.Lock()
	defer mu.Unlock()
	for s := range senders {
		if len(got[s]) != perSender {
			t.Errorf("sender %d: %d of %d messages arrived", s, len(got[s]), perSender)
		}
		for i, k := range got[s] {
			if k != int64(i) {
				t.Errorf("sender %d: message %d is #%d (received %v)", s, i, k, got[s])
				break
			}
		}
	}
	if ids := a.Nodes(); len(ids) != 1 || ids[0] != "b" {
		t.Errorf("a.Nodes() = %v, want [b]", ids)
	}
}
