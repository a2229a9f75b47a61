package node_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// No silent holes, under partitions (both ways and one way), resets,
// heals and latency changes on the a–b link.
//
// A port S on node a sends the stream 0, 1, 2, … to a port Q on node b, one
// message per tick of a jittered timer, and monitors Q from its own context
// (Context.Monitor with a Func, which runs in S's context, so sends and
// firings are totally ordered). Monitors are one-shot: after a firing, S
// sets a new monitor before its next send. Node b records what Q receives.
//
// Let sent be the number of messages S sent, recv the indices Q received,
// in order, and F the multiset of firing points: a firing observed by S
// after it had sent s messages (indices 0 … s-1) and before it sent index s
// has point s. The invariant:
//
//  1. recv is strictly increasing: no duplicate, no reordering;
//  2. every firing has reason transport_error (Q never dies);
//  3. every index j < sent missing from recv is covered: if some index
//     after j was received, and k is the first such, there is a firing
//     with point s, j < s ≤ k — the monitor fired after j was sent and
//     before k was — so after the first lost message nothing later arrived
//     without the monitor having fired in between; if nothing after j was
//     received, there is a firing with point s > j;
//  4. liveness: every message sent from heal+settle on arrives.
//
// Each seed draws its own fault schedule.
func TestSimNoSilentHoles(t *testing.T) {
	const seeds = 50
	var totalSent, totalLost, totalFirings int
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			st := runHoles(t, seed)
			totalSent += st.sent
			totalLost += st.lost
			totalFirings += st.firings
		})
	}
	t.Logf("%d seeds: %d messages sent, %d lost, %d monitor firings", seeds, totalSent, totalLost, totalFirings)
	if totalLost == 0 || totalFirings == 0 {
		t.Errorf("the fault schedules lost no message or fired no monitor: the test proves nothing")
	}
}

type holesStats struct{ sent, lost, firings int }

// holesRun is what one run observed.
type holesRun struct {
	sent    int
	recv    []int64
	firings []holesFiring
	healed  int // sent when the schedule ended with HealAll and settled
}

type holesFiring struct {
	point  int
	reason []any
}

func runHoles(t *testing.T, seed uint64) holesStats {
	var run holesRun
	var schedule []string
	cfg := sim.Config{Seed: seed, Latency: sim.Latency{Min: time.Millisecond, Max: 25 * time.Millisecond}}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		run, schedule = simHoles(t, n, seed)
	})
	if err := checkHoles(run); err != nil {
		t.Errorf("seed %d: %v\nschedule:\n  %s\nfirings: %v\nsent %d, received %d: %v",
			seed, err, strings.Join(schedule, "\n  "), run.firings, run.sent, len(run.recv), simRanges(run.recv))
	}
	return holesStats{sent: run.sent, lost: run.sent - len(run.recv), firings: len(run.firings)}
}

// simFaultSchedule draws a schedule of faults on the a–b link between from
// and to, ends it with HealAll, and returns it in words.
func simFaultSchedule(n *sim.Network, r *clock.Rand, a, b string, from, to time.Duration) []string {
	var words []string
	at := from
	for {
		at += time.Duration(r.Int64N(int64(1500 * time.Millisecond)))
		if at >= to {
			break
		}
		var f func()
		var what string
		switch r.IntN(8) {
		case 0, 1:
			what, f = "partition", func() { n.Partition(a, b) }
		case 2:
			what, f = "partition "+a+">"+b, func() { n.PartitionOneWay(a, b) }
		case 3:
			what, f = "partition "+b+">"+a, func() { n.PartitionOneWay(b, a) }
		case 4, 5:
			what, f = "reset", func() { n.Reset(a, b) }
		case 6:
			what, f = "heal", func() { n.Heal(a, b) }
		case 7:
			l := sim.Latency{Min: time.Duration(r.Int64N(int64(50 * time.Millisecond)))}
			l.Max = l.Min + time.Duration(r.Int64N(int64(50*time.Millisecond)))
			what, f = fmt.Sprintf("latency %v-%v", l.Min, l.Max), func() { n.SetLatency(a, b, l) }
		}
		words = append(words, fmt.Sprintf("%v %s", at, what))
		n.After(at, f)
	}
	words = append(words, fmt.Sprintf("%v heal all", to))
	n.After(to, n.HealAll)
	return words
}

func simHoles(t *testing.T, n *sim.Network, seed uint64) (holesRun, []string) {
	c := newSimCluster(t, n, simOpts{
		shards:    1 + int(seed%2),
		coalesce:  seed%3 != 0,
		heartbeat: 200 * time.Millisecond,
		hbTimeout: 600 * time.Millisecond,
	}, "a", "b")
	defer c.close()
	a, b := c.node("a"), c.node("b")
	clk := n.Clock()

	var mu sync.Mutex // guards run: written by S's and Q's callbacks, read at the end
	var run holesRun
	q := b.Port(func(_ *node.Context, msg []any) error {
		mu.Lock()
		run.recv = append(run.recv, msg[1].(int64))
		mu.Unlock()
		return nil
	})
	c.link("a", "b")

	const (
		faultsFrom = 200 * time.Millisecond
		faultsTo   = 8 * time.Second
		quiet      = 3 * time.Second // after HealAll: detection and reconnection
		sendUntil  = faultsTo + quiet + 2*time.Second
	)
	r := n.Rand("schedule")
	schedule := simFaultSchedule(n, r, "a", "b", faultsFrom, faultsTo)
	n.After(faultsTo+quiet, func() {
		mu.Lock()
		run.healed = run.sent
		mu.Unlock()
	})

	// S: one message per tick, a monitor on Q always in place before a send.
	jitter := n.Rand("ticks")
	start := clk.Now()
	stopped := make(chan struct{})
	monitored := false
	var s string
	s = a.Port(func(ctx *node.Context, _ []any) error {
		if clk.Since(start) >= sendUntil {
			close(stopped)
			ctx.Kill()
			return nil
		}
		if !monitored {
			monitored = true
			ctx.Monitor(q, node.Func(func(reason []any) {
				// In S's context: no send of S runs concurrently.
				monitored = false
				mu.Lock()
				run.firings = append(run.firings, holesFiring{point: run.sent, reason: reason})
				mu.Unlock()
			}))
		}
		mu.Lock()
		k := run.sent
		run.sent++
		mu.Unlock()
		ctx.Send(q, "m", k)
		a.After(5*time.Millisecond+time.Duration(jitter.Int64N(int64(10*time.Millisecond))), s, "tick")
		return nil
	})
	a.Send(s, "tick")
	<-stopped
	// Long enough for the last messages to arrive, or for a loss to be
	// detected (heartbeat timeout, connect timeout) and the monitor to fire.
	simSettle(n, 5*time.Second)

	mu.Lock()
	defer mu.Unlock()
	run.recv = slices.Clone(run.recv)
	run.firings = slices.Clone(run.firings)
	return run, schedule
}

// checkHoles checks the invariant described at TestSimNoSilentHoles.
func checkHoles(run holesRun) error {
	for i := 1; i < len(run.recv); i++ {
		if run.recv[i] <= run.recv[i-1] {
			return fmt.Errorf("received #%d after #%d: out of order or duplicated", run.recv[i], run.recv[i-1])
		}
	}
	for _, f := range run.firings {
		if !simIsTransportError(f.reason) || f.reason[1] != "b" {
			return fmt.Errorf("monitor fired with %q, want transport_error b …", simReason(f.reason))
		}
	}
	received := make(map[int64]bool, len(run.recv))
	for _, k := range run.recv {
		if k < 0 || k >= int64(run.sent) {
			return fmt.Errorf("received #%d, never sent", k)
		}
		received[k] = true
	}
	// next[j]: the first received index after j, or -1.
	nextRecv := int64(-1)
	for j := int64(run.sent) - 1; j >= 0; j-- {
		if received[j] {
			nextRecv = j
			continue
		}
		covered := false
		for _, f := range run.firings {
			p := int64(f.point)
			if p > j && (nextRecv < 0 || p <= nextRecv) {
				covered = true
				break
			}
		}
		if !covered {
			if nextRecv >= 0 {
				return fmt.Errorf("silent hole: #%d was lost but #%d arrived, and the monitor did not fire in between (after sending #%d, before sending #%d)", j, nextRecv, j, nextRecv)
			}
			return fmt.Errorf("silent hole: #%d was lost and the monitor never fired after it was sent", j)
		}
		if j >= int64(run.healed) {
			return fmt.Errorf("#%d, sent after the network had healed and settled, was lost", j)
		}
	}
	return nil
}

// simRanges renders sorted indices as ranges: "0-41 45 47-90".
func simRanges(ks []int64) string {
	var b strings.Builder
	for i := 0; i < len(ks); {
		j := i
		for j+1 < len(ks) && ks[j+1] == ks[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if i == j {
			fmt.Fprintf(&b, "%d", ks[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", ks[i], ks[j])
		}
		i = j + 1
	}
	return b.String()
}

// The checker itself: it accepts runs that keep the invariant and rejects
// each kind of violation.
func TestSimHolesChecker(t *testing.T) {
	f := func(points ...int) []holesFiring {
		var fs []holesFiring
		for _, p := range points {
			fs = append(fs, holesFiring{point: p, reason: []any{node.ReasonTransport, "b", "connection closed"}})
		}
		return fs
	}
	for _, tc := range []struct {
		name string
		run  holesRun
		ok   bool
	}{
		{"all arrived", holesRun{sent: 4, recv: []int64{0, 1, 2, 3}, healed: 4}, true},
		{"gap covered", holesRun{sent: 5, recv: []int64{0, 3, 4}, firings: f(3), healed: 5}, true},
		{"two losses, two firings", holesRun{sent: 5, recv: []int64{0, 3, 4}, firings: f(2, 3), healed: 5}, true},
		{"lost after a firing, not covered", holesRun{sent: 5, recv: []int64{0, 3, 4}, firings: f(2), healed: 5}, false},
		{"tail covered", holesRun{sent: 5, recv: []int64{0, 1}, firings: f(5), healed: 5}, true},
		{"gap not covered", holesRun{sent: 5, recv: []int64{0, 3, 4}, healed: 5}, false},
		{"firing too late", holesRun{sent: 5, recv: []int64{0, 3, 4}, firings: f(4), healed: 5}, false},
		{"firing too early", holesRun{sent: 5, recv: []int64{0, 3, 4}, firings: f(1), healed: 5}, false},
		{"tail not covered", holesRun{sent: 5, recv: []int64{0, 1}, firings: f(2), healed: 5}, false},
		{"reordered", holesRun{sent: 3, recv: []int64{0, 2, 1}, healed: 3}, false},
		{"duplicated", holesRun{sent: 3, recv: []int64{0, 1, 1, 2}, healed: 3}, false},
		{"lost after heal", holesRun{sent: 5, recv: []int64{0, 1, 2}, firings: f(5), healed: 3}, false},
		{"wrong reason", holesRun{sent: 2, recv: []int64{0, 1}, firings: []holesFiring{{1, []any{"die", "x"}}}, healed: 2}, false},
	} {
		if err := checkHoles(tc.run); (err == nil) != tc.ok {
			t.Errorf("%s: checkHoles = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
