package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/node/aemp"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		childNode() // this process is a node for a test in its parent
		return
	}
	goleak.VerifyTestMain(m)
}

// inBubble runs f with a node in a synctest bubble; synctest.Wait lets the
// executors catch up.
func inBubble(t *testing.T, f func(t *testing.T, n *node.Node)) {
	synctest.Test(t, func(t *testing.T) {
		n, err := node.Start(context.Background(), node.Config{ID: "a", Rand: clock.NewRand(1), Shards: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close(context.Background())
		f(t, n)
	})
}

// recorder collects what a callback sees, safe from any goroutine.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.got = append(r.got, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func (r *recorder) expect(t *testing.T, want ...string) {
	t.Helper()
	synctest.Wait()
	if got := r.take(); !slices.Equal(got, want) {
		t.Fatalf("got\n  %q\nwant\n  %q", got, want)
	}
}

func TestSendOrderAndTags(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		p := n.Port(func(c *node.Context, msg []any) error { r.add("default %v", msg); return nil })
		n.Rcv(p, "ping", func(c *node.Context, msg []any) error { r.add("ping %v from %s", msg, c.SrcNode()); return nil })
		for i := range 3 {
			n.Send(p, "ping", i)
		}
		n.Send(p, "other", 1)
		n.Send(p, 42)
		n.Send(p)
		r.expect(t, "ping [0] from a", "ping [1] from a", "ping [2] from a", "default [other 1]", "default [42]", "default []")
		n.Rcv(p, "ping", nil) // removed: the default takes it
		n.Send(p, "ping", 9)
		r.expect(t, "default [ping 9]")
		if err := n.Rcv("b#x", "t", nil); !errors.Is(err, node.ErrNotLocal) {
			t.Fatalf("Rcv on another node's port = %v", err)
		}
	})
}

// TestHandlerChangesTakeEffectAtOnce: a handler that replaces or removes
// its tag's handler changes where the very next message with that tag goes,
// even one queued before the change (deliver remembers the last handler it
// found, and must forget it).
func TestHandlerChangesTakeEffectAtOnce(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		p := n.Port(func(c *node.Context, msg []any) error { r.add("default %v", msg); return nil })
		second := func(c *node.Context, msg []any) error {
			r.add("second %v", msg)
			c.Rcv("t", nil)
			return nil
		}
		n.Rcv(p, "t", func(c *node.Context, msg []any) error {
			r.add("first %v", msg)
			c.Rcv("t", second)
			return nil
		})
		for i := range 4 {
			n.Send(p, "t", i)
		}
		r.expect(t, "first [0]", "second [1]", "default [t 2]", "default [t 3]")
	})
}

func TestPortIDs(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		a, b := n.Port(nil), n.Port(nil)
		if node.NodeOf(a) != "a" || a == b || len(a) != len("a#")+9+1 {
			t.Fatalf("port IDs %q and %q", a, b)
		}
	})
}

func TestKillAndReasons(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		watch := func(p string) { n.Monitor(p, node.Func(func(reason []any) { r.add("%s", node.FormatReason(reason)) })) }

		p := n.Port(func(*node.Context, []any) error { return nil })
		watch(p)
		n.Kill(p)
		r.expect(t, "normal")

		p = n.Port(nil)
		watch(p)
		n.Kill(p, "bored", 3)
		r.expect(t, "bored 3")

		p = n.Port(nil) // no callback at all
		watch(p)
		n.Send(p, "hello")
		r.expect(t, `unhandled_message no handler for a message tagged "hello"`)

		p = n.Port(func(*node.Context, []any) error { return errors.New("bad input") })
		watch(p)
		n.Send(p, 1)
		r.expect(t, "die bad input")

		p = n.Port(func(*node.Context, []any) error { panic("oops") })
		watch(p)
		n.Send(p, 1)
		r.expect(t, "die panic: oops")

		// Dead ports take nothing more; killing them again, or killing a
		// port that never was, does nothing; the node port cannot die.
		n.Send(p, 2)
		n.Kill(p, "again")
		n.Kill("a#nothing")
		n.Kill(n.ID())
		r.expect(t)
	})
}

// A panic kills only its port: the work queued behind it on the same
// executor still runs, in order.
func TestPanicKillsOnlyItsPort(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		var ports []string
		for i := range 6 { // ports are dealt to the two shards in turn
			ports = append(ports, n.Port(func(_ *node.Context, msg []any) error {
				if msg[0] == "boom" {
					panic(fmt.Sprintf("port %d", i))
				}
				r.add("%d got %v", i, msg[0])
				return nil
			}))
			n.Monitor(ports[i], node.Func(func(reason []any) { r.add("%d died: %s", i, node.FormatReason(reason)) }))
		}
		synctest.Wait()
		// Queued at once, so each executor takes its share as one batch.
		for i, p := range ports {
			if i%3 == 0 {
				n.Send(p, "boom")
			}
			n.Send(p, "hello")
		}
		synctest.Wait()
		got := sortedCopy(r.take())
		want := sortedCopy([]string{
			"0 died: die panic: port 0", "1 got hello", "2 got hello",
			"3 died: die panic: port 3", "4 got hello", "5 got hello",
		})
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	})
}

func TestKillComesAfterQueuedMessages(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		p := n.Port(func(_ *node.Context, msg []any) error { r.add("%v", msg[0]); return nil })
		n.Monitor(p, node.Func(func(reason []any) { r.add("died") }))
		n.Send(p, 1)
		n.Send(p, 2)
		n.Kill(p)
		n.Send(p, 3)
		r.expect(t, "1", "2", "died")
	})
}

func TestMonitorActions(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		inbox := n.Port(func(_ *node.Context, msg []any) error { r.add("inbox %v", msg); return nil })

		// SendTo: the message, then the reason.
		p := n.Port(nil)
		n.Monitor(p, node.SendTo(inbox, "down", p))
		n.Kill(p, "crashed")
		r.expect(t, fmt.Sprintf("inbox [down %s crashed]", p))

		// KillPort: only an abnormal death takes the other port along.
		partner := n.Port(nil)
		n.Monitor(partner, node.Func(func(reason []any) { r.add("partner %s", node.FormatReason(reason)) }))
		p = n.Port(nil)
		n.Monitor(p, node.KillPort(partner))
		n.Kill(p)
		r.expect(t)
		p = n.Port(nil)
		n.Monitor(p, node.KillPort(partner))
		n.Kill(p, "fatal")
		r.expect(t, "partner fatal")

		// A missing port fires at once with no_such_port.
		n.Monitor("a#gone", node.Func(func(reason []any) { r.add("%s", node.FormatReason(reason)) }))
		r.expect(t, "no_such_port cannot monitor nonexistent port a#gone")

		// A stopped monitor does not fire.
		p = n.Port(nil)
		g := n.Monitor(p, node.Func(func([]any) { r.add("should not fire") }))
		g.Stop()
		n.Kill(p, "x")
		r.expect(t)

		// A monitor set after the death fires with the recorded reason,
		// while the node remembers the death: for its last 256 deaths.
		p = n.Port(nil)
		n.Kill(p, "early")
		synctest.Wait()
		n.Monitor(p, node.Func(func(reason []any) { r.add("late %s", node.FormatReason(reason)) }))
		r.expect(t, "late early")
		for range 256 {
			n.Kill(n.Port(nil))
		}
		n.Monitor(p, node.Func(func(reason []any) { r.add("forgotten %s", node.FormatReason(reason)) }))
		r.expect(t, "forgotten no_such_port cannot monitor nonexistent port "+p)
	})
}

// A Func monitor set from a port runs in that port's context: never at the
// same time as its callbacks.
func TestMonitorFuncRunsInTheOwnersContext(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var inside atomic.Int32
		var overlaps atomic.Int32
		enter := func() {
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
		}
		leave := func() { inside.Add(-1) }
		victims := make([]string, 50)
		for i := range victims {
			victims[i] = n.Port(nil)
		}
		owner := n.Port(func(c *node.Context, msg []any) error {
			enter()
			defer leave()
			if msg[0] == "watch" {
				for _, v := range victims {
					c.Monitor(v, node.Func(func([]any) { enter(); leave() }))
				}
			}
			return nil
		})
		n.Send(owner, "watch")
		synctest.Wait()
		for i, v := range victims {
			n.Kill(v, "x")
			n.Send(owner, i)
		}
		synctest.Wait()
		if overlaps.Load() != 0 {
			t.Fatalf("%d monitor callbacks overlapped the owner's callbacks", overlaps.Load())
		}
	})
}

func TestSpawnLocal(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		n.Register("adder", func(c *node.Context, args []any) error {
			base := args[0].(int64)
			c.Rcv("add", func(c *node.Context, msg []any) error {
				c.Send(msg[1].(string), base+msg[0].(int64))
				return nil
			})
			return nil
		})
		inbox := n.Port(func(_ *node.Context, msg []any) error { r.add("%v", msg[0]); return nil })
		// Spawn returns first: an init that cannot finish until Spawn has
		// returned would deadlock the bubble if Spawn waited for it.
		spawned, initRan := make(chan struct{}), make(chan struct{})
		n.Register("flag", func(*node.Context, []any) error { <-spawned; close(initRan); return nil })
		n.Spawn(n.ID(), "flag")
		close(spawned)
		<-initRan
		adder := n.Spawn(n.ID(), "adder", 40)
		n.Send(adder, "add", 2, inbox)
		r.expect(t, "42")

		missing := n.Spawn(n.ID(), "nope")
		n.Monitor(missing, node.Func(func(reason []any) { r.add("%s", node.FormatReason(reason)) }))
		r.expect(t, "no_such_init nope")
	})
}

func TestCall(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		double := n.Port(func(c *node.Context, msg []any) error {
			reply := msg[len(msg)-1].(string)
			c.Send(reply, 2*msg[0].(int64))
			c.Send(reply, "a second reply, dropped")
			return nil
		})
		got, err := n.Call(context.Background(), double, 21)
		if err != nil || len(got) != 1 || got[0] != int64(42) {
			t.Fatalf("Call = %v, %v", got, err)
		}
		// The target dies without answering: a *KilledError with the reason.
		dies := n.Port(func(c *node.Context, msg []any) error { return errors.New("no") })
		_, err = n.Call(context.Background(), dies, 1)
		var ke *node.KilledError
		if !errors.As(err, &ke) || node.FormatReason(ke.Reason) != "die no" {
			t.Fatalf("Call to a dying port = %v", err)
		}
		// With a deadline too, the target's death ends the Call at once.
		ctx1, cancel1 := context.WithTimeout(context.Background(), time.Hour)
		defer cancel1()
		start1 := clock.Real().Now()
		_, err = n.Call(ctx1, dies, 1)
		if !errors.As(err, &ke) || clock.Real().Since(start1) != 0 {
			t.Fatalf("Call with a deadline to a dead port = %v after %v", err, clock.Real().Since(start1))
		}
		// A deadline: the timeout, exactly.
		silent := n.Port(func(*node.Context, []any) error { return nil })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		clk := clock.Real() // the bubble's fake time
		start := clk.Now()
		_, err = n.Call(ctx, silent, 1)
		if !errors.Is(err, context.DeadlineExceeded) || clk.Since(start) != 5*time.Second {
			t.Fatalf("Call with a deadline = %v after %v", err, clk.Since(start))
		}
		// A missing target, without a deadline: no_such_port at once.
		_, err = n.Call(context.Background(), "a#missing", 1)
		if !errors.As(err, &ke) || ke.Reason[0] != node.ReasonNoSuchPort {
			t.Fatalf("Call to a missing port = %v", err)
		}
		// Many arguments (past the ones Call keeps on its stack) arrive
		// all, the reply port last.
		count := n.Port(func(c *node.Context, msg []any) error {
			c.Send(msg[len(msg)-1].(string), int64(len(msg)-1), msg[len(msg)-2])
			return nil
		})
		for _, args := range [][]any{{}, {1, 2, 3, 4, 5, 6, 7}, {1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6, 7, 8, 9, "last"}} {
			got, err = n.Call(context.Background(), count, append([]any{"x"}, args...)...)
			if err != nil || len(got) != 2 || got[0] != int64(len(args)+1) {
				t.Fatalf("Call with %d arguments = %v, %v", len(args)+1, got, err)
			}
		}
		// A value outside the model: the Call fails at once, sending nothing.
		_, err = n.Call(context.Background(), count, make(chan int))
		if !errors.Is(err, aemp.ErrNotInModel) {
			t.Fatalf("Call with a channel = %v", err)
		}
	})
}

// TestLocalSendCopies: a port on the same node gets its own copy of what
// was sent, as it would from another node: it may change a []byte it got,
// nested ones too, and the sender may reuse its buffer at once.
func TestLocalSendCopies(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		buf := []byte("abc")
		nested := []any{[]byte("xyz")}
		var got []any
		p := n.Port(func(c *node.Context, msg []any) error {
			got = msg
			msg[0].([]byte)[0] = '!'
			msg[1].([]any)[0].([]byte)[0] = '!'
			return nil
		})
		n.Send(p, buf, nested)
		buf[1] = '?' // reused before the port ran
		synctest.Wait()
		if string(buf) != "a?c" || string(nested[0].([]byte)) != "xyz" {
			t.Errorf("the port's changes reached the sender: %q %q", buf, nested[0])
		}
		if string(got[0].([]byte)) != "!bc" || string(got[1].([]any)[0].([]byte)) != "!yz" {
			t.Errorf("the port got %q %q, want its own copies", got[0], got[1].([]any)[0])
		}
	})
}

func TestTimersAndContext(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		clk := clock.Real() // the bubble's fake time
		start := clk.Now()
		var later func()
		p := n.Port(func(c *node.Context, msg []any) error {
			r.add("%v at %v self=%v", msg[0], clk.Since(start), c.Self() == msg[1])
			if msg[0] == "wrap" {
				later = c.Wrap(func(c *node.Context) { r.add("wrapped in %v", c.Self() == msg[1]) })
			}
			return nil
		})
		n.After(3*time.Second, p, "after", p)
		g := n.After(4*time.Second, p, "cancelled", p)
		g.Stop()
		clk.Sleep(10 * time.Second)
		r.expect(t, fmt.Sprintf("after at %v self=true", 3*time.Second))

		n.Send(p, "wrap", p)
		synctest.Wait()
		n.AfterFunc(time.Second, later)
		clk.Sleep(2 * time.Second)
		r.expect(t, fmt.Sprintf("wrap at %v self=true", 10*time.Second), "wrapped in true")

		if !n.Eval(p, func(c *node.Context) { r.add("eval in %s", node.NodeOf(c.Self())) }) {
			t.Fatal("Eval on a live port failed")
		}
		r.expect(t, "eval in a")
		if n.Eval("a#nope", func(*node.Context) {}) {
			t.Fatal("Eval on a missing port succeeded")
		}
	})
}

// A port's callbacks never run concurrently, though many goroutines send.
func TestCallbacksOfOnePortAreSerial(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		count := 0 // unsynchronized on purpose: -race checks the claim
		p := n.Port(func(*node.Context, []any) error { count++; return nil })
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 1000 {
					n.Send(p, 1)
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		var got int
		n.Eval(p, func(*node.Context) { got = count })
		synctest.Wait()
		if got != 8000 {
			t.Fatalf("count = %d, want 8000", got)
		}
	})
}
