package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// Exactly-once Call under faults: many concurrent Calls from node a to ports
// on node b while the a–b link is partitioned, reset and healed on a random
// schedule. The targets: an echo port that answers after a random delay —
// some requests twice —, ports that die of the request they get, and a port
// that does not exist. Half the Calls have a deadline.
//
// For every Call, with start time t0, end time t1 (fake time) and deadline
// d when it has one:
//
//  1. it returns exactly once, and before the end of the run: no hang;
//  2. with a deadline, t1-t0 ≤ d, and if it failed with DeadlineExceeded,
//     t1-t0 = d exactly;
//  3. a reply is the reply to this request, and the first one: ("rep", id, 1)
//     for the echo port; nothing else returns a reply;
//  4. an error is DeadlineExceeded (deadline only), or — Call monitors the
//     target, with a deadline or without — a *KilledError for the target with
//     transport_error b … (any target), die … (the dying ports) or
//     no_such_port (the missing one);
//  5. b handled each request at most once, and every echo Call that got a
//     reply was handled;
//  6. liveness: the Calls made after the schedule has healed and settled
//     all get their reply.
func TestSimCallExactlyOnce(t *testing.T) {
	var total, replies, killed, timedOut int
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			var res []callOutcome
			cfg := sim.Config{Seed: seed, Latency: sim.Latency{Min: time.Millisecond, Max: 25 * time.Millisecond}}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) { res = simCalls(t, n, seed) })
			for _, r := range res {
				total++
				switch {
				case r.err == nil:
					replies++
				case errors.Is(r.err, context.DeadlineExceeded):
					timedOut++
				default:
					killed++
				}
			}
		})
	}
	t.Logf("%d calls: %d replies, %d killed, %d past their deadline", total, replies, killed, timedOut)
	if replies == 0 || killed == 0 || timedOut == 0 {
		t.Errorf("some outcome never happened: the test proves less than it should")
	}
}

type callTarget int

const (
	callEcho callTarget = iota
	callMortal
	callMissing
)

type callOutcome struct {
	id       int
	target   callTarget
	deadline time.Duration // 0: none
	late     bool          // made after the network healed and settled
	returns  int
	took     time.Duration
	reply    []any
	err      error
}

func simCalls(t *testing.T, n *sim.Network, seed uint64) []callOutcome {
	c := newSimCluster(t, n, simOpts{
		shards:    2,
		coalesce:  seed%2 == 1,
		heartbeat: 200 * time.Millisecond,
		hbTimeout: 600 * time.Millisecond,
	}, "a", "b")
	defer c.close()
	a, b := c.node("a"), c.node("b")
	clk := n.Clock()

	const (
		calls      = 150
		lateCalls  = 20
		faultsTo   = 6 * time.Second
		quiet      = 3 * time.Second
		mortals    = 15
		twiceEvery = 4 // every fourth echo request is answered twice
	)
	// b's side: what it handled, by request ID.
	var hmu sync.Mutex
	handled := make(map[int64]int)
	handle := func(id int64) {
		hmu.Lock()
		handled[id]++
		hmu.Unlock()
	}
	delays := n.Rand("echo-delays")
	echo := b.Port(nil)
	b.Rcv(echo, "req", func(ctx *node.Context, msg []any) error {
		id, reply := msg[0].(int64), msg[len(msg)-1].(string)
		handle(id)
		d := time.Duration(delays.Int64N(int64(40 * time.Millisecond)))
		b.AfterFunc(d, func() {
			b.Send(reply, "rep", id, 1)
			if id%twiceEvery == 0 {
				b.Send(reply, "rep", id, 2) // after the first: Call must ignore it
			}
		})
		return nil
	})
	var mortal []string
	for range mortals {
		p := b.Port(nil)
		b.Rcv(p, "req", func(ctx *node.Context, msg []any) error {
			handle(msg[0].(int64))
			return errors.New("request fatal")
		})
		mortal = append(mortal, p)
	}
	c.link("a", "b")

	r := n.Rand("calls")
	schedule := simFaultSchedule(n, n.Rand("schedule"), "a", "b", 100*time.Millisecond, faultsTo)
	release, releaseAll := context.WithCancel(context.Background())
	defer releaseAll()
	out := make([]callOutcome, calls+lateCalls)
	var wg sync.WaitGroup
	start := clk.Now()
	for i := range out {
		o := &out[i]
		o.id = i
		var at time.Duration
		if i < calls {
			at = time.Duration(r.Int64N(int64(faultsTo)))
			if i < mortals {
				o.target = callMortal
			} else if r.IntN(10) == 0 {
				o.target = callMissing
			}
			if r.IntN(2) == 0 {
				o.deadline = 20*time.Millisecond + time.Duration(r.Int64N(int64(2*time.Second)))
			}
		} else {
			o.late = true
			at = faultsTo + quiet + time.Duration(r.Int64N(int64(time.Second)))
			if r.IntN(2) == 0 {
				o.deadline = time.Second
			}
		}
		wg.Go(func() {
			clk.Sleep(at - clk.Since(start))
			port := echo
			switch o.target {
			case callMortal:
				port = mortal[o.id]
			case callMissing:
				port = "b#no-such-port"
			}
			// Without a deadline, still cancellable: a hung Call is
			// reported, then released.
			ctx, cancel := context.WithCancel(release)
			defer cancel()
			if o.deadline > 0 {
				ctx, cancel = clock.WithTimeout(ctx, clk, o.deadline)
				defer cancel()
			}
			t0 := clk.Now()
			reply, err := a.Call(ctx, port, "req", o.id)
			o.took = clk.Since(t0)
			o.reply, o.err = reply, err
			o.returns++
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	hung := false
	select {
	case <-allDone:
	case <-clk.After(faultsTo + quiet + time.Minute):
		hung = true
	}
	if hung {
		releaseAll() // the hung Calls return context.Canceled
		<-allDone
	}
	simSettle(n, time.Second)

	hmu.Lock()
	defer hmu.Unlock()
	fail := func(o *callOutcome, format string, args ...any) {
		t.Helper()
		t.Errorf("call %d (target %d, deadline %v, late %v): %s\nschedule:\n  %s",
			o.id, o.target, o.deadline, o.late, fmt.Sprintf(format, args...), strings.Join(schedule, "\n  "))
	}
	for i := range out {
		o := &out[i]
		if errors.Is(o.err, context.Canceled) {
			fail(o, "hung: had not returned a minute after the network healed")
			continue
		}
		if o.returns != 1 {
			fail(o, "returned %d times", o.returns)
			continue
		}
		if o.deadline > 0 && o.took > o.deadline {
			fail(o, "returned after %v, past its deadline", o.took)
		}
		if h := handled[int64(o.id)]; h > 1 {
			fail(o, "b handled the request %d times", h)
		}
		var ke *node.KilledError
		switch {
		case o.err == nil:
			want := fmt.Sprint([]any{"rep", int64(o.id), int64(1)})
			if o.target != callEcho || fmt.Sprint(o.reply) != want {
				fail(o, "reply %v, want %s", o.reply, want)
			}
			if handled[int64(o.id)] != 1 {
				fail(o, "a reply, but b never handled the request")
			}
		case errors.Is(o.err, context.DeadlineExceeded):
			if o.deadline == 0 || o.took != o.deadline {
				fail(o, "DeadlineExceeded after %v", o.took)
			}
		case errors.As(o.err, &ke):
			reason := simReason(ke.Reason)
			ok := (strings.HasPrefix(reason, "transport_error b ") ||
				o.target == callMortal && strings.HasPrefix(reason, "die request fatal") ||
				o.target == callMissing && strings.HasPrefix(reason, "no_such_port"))
			if !ok {
				fail(o, "killed: %v", o.err)
			}
		default:
			fail(o, "error %v", o.err)
		}
		if o.late && o.err != nil {
			fail(o, "made after the network healed, failed: %v", o.err)
		}
	}
	return out
}
