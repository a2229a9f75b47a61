package node_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// Back-pressure is bounded and is not death (issue 10). A port on b
// blocks on its first message; a sends it 2000 messages of 32 KiB (64 MiB)
// from outside port context. a's Send must come to wait — the bytes in
// flight bounded by b's executor queue (Limits.QueueBytes), a's link queue
// (Limits.SendQueue) and the network's window — and the link must stay up
// while b's reader waits a whole minute for its own executor, though its
// heartbeat timeout is 3 s. Once the port unblocks, every message arrives,
// in order.
func TestSimBackPressureIsBoundedAndNotDeath(t *testing.T) {
	cfg := sim.Config{Seed: 1, Latency: sim.Latency{Min: time.Millisecond, Max: 5 * time.Millisecond}}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		limits := node.Limits{QueueBytes: 1 << 20, SendQueue: 1 << 20}
		c := newSimCluster(t, n, simOpts{heartbeat: time.Second, hbTimeout: 3 * time.Second, limits: limits}, "a", "b")
		defer c.close()
		a, b := c.node("a"), c.node("b")
		c.link("a", "b")
		const count, size = 2000, 32 << 10
		release := make(chan struct{})
		var got atomic.Int64
		inOrder := true
		q := b.Port(func(_ *node.Context, msg []any) error {
			if got.Load() == 0 {
				<-release // blocks its executor: its queue fills, then b's reader waits
			}
			if msg[0].(int64) != got.Load() {
				inOrder = false
			}
			got.Add(1)
			return nil
		})
		var failed []string
		var mu sync.Mutex
		a.Monitor(q, node.Func(func(r []any) {
			mu.Lock()
			failed = append(failed, simReason(r))
			mu.Unlock()
		}))
		simSettle(n, 100*time.Millisecond)
		heapBefore := simHeap()
		var sent atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			payload := make([]byte, size)
			for i := range count {
				a.Send(q, int64(i), payload)
				sent.Add(1)
			}
		}()
		simSettle(n, time.Minute) // everyone waits: a's Send, b's reader, q
		stalledAt, heapStalled := sent.Load(), simHeap()
		if stalledAt >= 400 {
			t.Errorf("a sent %d of %d messages of %d bytes while q was blocked: nothing held it back", stalledAt, count, size)
		}
		if grew := int64(heapStalled) - int64(heapBefore); grew > 16<<20 {
			t.Errorf("the heap grew by %d MiB while q was blocked", grew>>20)
		}
		close(release)
		<-done
		simSettle(n, time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if got.Load() != count || !inOrder || len(failed) > 0 {
			t.Errorf("q got %d of %d messages (in order: %v); the monitor fired %v", got.Load(), count, inOrder, failed)
		}
		t.Logf("a's Send waited after %d messages (%d MiB); the heap grew by %d MiB",
			stalledAt, stalledAt*size>>20, (int64(heapStalled)-int64(heapBefore))>>20)
	})
}

func simHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
