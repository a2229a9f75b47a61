package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// runNodeDemo plays the demo's second act: two nodes, alice and bob, on
// loopback. alice spawns a counter port on bob, sends it numbers and gets
// running totals back, asks for the total with Call, and monitors the
// counter; then bob shuts down, and the monitor fires. scale stretches the
// pauses (1: about 3 s); ctx ending stops it at once.
func runNodeDemo(ctx context.Context, out io.Writer, scale float64) (err error) {
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	clk := clock.Real()
	tl := &timeline{out: out, clk: clk, start: clk.Now()}
	interrupted := func() error { // callbacks may still be printing
		tl.mu.Lock()
		defer tl.mu.Unlock()
		fmt.Fprintln(out, "\nInterrupted.")
		return nil
	}

	start := func(id string) (*node.Node, error) {
		return node.Start(ctx, node.Config{ID: id, Binds: []string{"127.0.0.1:0"}, Secret: "tether-demo"})
	}
	alice, err := start("alice")
	if err != nil {
		return err
	}
	defer closeNode(alice, &err)
	bob, err := start("bob")
	if err != nil {
		return err
	}
	bobClosed := false
	defer func() {
		if !bobClosed {
			closeNode(bob, &err)
		}
	}()

	fmt.Fprintf(out, "\ntether demo, act 2: two nodes, alice (%s) and bob\n", alice.Addrs()[0])
	fmt.Fprintf(out, "(%s), linked by the AnyEvent::MP protocol. alice spawns a\n", bob.Addrs()[0])
	fmt.Fprintf(out, "counter on bob, sends it numbers, and monitors it; then bob shuts down.\n\n")
	tl.header("node")

	// bob's side: an init function that alice can spawn by name. The
	// counter adds what it is sent and answers each number with the total.
	bob.Register("counter", func(c *node.Context, _ []any) error {
		var total int64
		// A tag handler gets the message without its tag.
		c.Rcv("add", func(c *node.Context, msg []any) error { // add N REPLY-PORT
			n, ok := msg[0].(int64)
			if !ok {
				return fmt.Errorf("add: %v is not an integer", msg[0])
			}
			total += n
			c.Send(msg[1].(string), "total", n, total)
			return nil
		})
		c.Rcv("get", func(c *node.Context, msg []any) error { // get REPLY-PORT (from Call)
			c.Send(msg[0].(string), total)
			return nil
		})
		return nil
	})

	alice.MonitorNodes(func(id string, up bool, reason []any) {
		if up {
			tl.note("alice", "link to "+id+" is up")
		} else {
			tl.note("alice", "link to "+id+" is down: "+node.FormatReason(reason))
		}
	})
	linkCtx, cancel := clock.WithTimeout(ctx, clk, 5*time.Second)
	peer, err := alice.AddNode(linkCtx, bob.Addrs()...)
	cancel()
	if err != nil {
		return fmt.Errorf("linking alice to bob: %w", err)
	}
	tl.note("alice", "added node "+peer+": linked, authenticated by the shared secret")

	counter := alice.Spawn("bob", "counter")
	tl.note("alice", "spawned "+counter+" (init function \"counter\" on bob)")
	died := make(chan []any, 1)
	alice.Monitor(counter, node.Func(func(reason []any) { died <- reason }))
	tl.note("alice", "monitoring "+counter)

	totals := make(chan []any, 16)
	inbox := alice.Port(func(_ *node.Context, msg []any) error { totals <- msg; return nil })
	for i := int64(1); i <= 5; i++ {
		if clock.Sleep(ctx, clk, scaled(200*time.Millisecond)) != nil {
			return interrupted()
		}
		alice.Send(counter, "add", i, inbox)
		tl.note("alice", fmt.Sprintf("→ %s  add %d", counter, i))
		select {
		case m := <-totals:
			tl.note("bob", fmt.Sprintf("→ %s  total %d (after adding %d)", inbox, m[2], m[1]))
		case reason := <-died:
			return fmt.Errorf("the counter died: %s", node.FormatReason(reason))
		case <-ctx.Done():
			return interrupted()
		}
	}
	callCtx, cancel := clock.WithTimeout(ctx, clk, 5*time.Second)
	got, err := alice.Call(callCtx, counter, "get")
	cancel()
	if err != nil {
		return fmt.Errorf("calling the counter: %w", err)
	}
	tl.note("alice", fmt.Sprintf("Call(%s, get) = %v: exactly one answer", counter, got[0]))

	if clock.Sleep(ctx, clk, scaled(500*time.Millisecond)) != nil {
		return interrupted()
	}
	tl.note("bob", "▼ node bob shuts down: its ports die a normal death, then the link goes")
	bobClosed = true
	closeNode(bob, &err)
	select {
	case reason := <-died:
		tl.note("alice", "monitor on "+counter+" fired: "+node.FormatReason(reason))
	case <-ctx.Done():
		return interrupted()
	}
	if clock.Sleep(ctx, clk, scaled(300*time.Millisecond)) != nil {
		return interrupted()
	}
	tl.note("", "■ done: closing alice")
	return err
}

// closeNode closes n within five seconds, and records a failure in *err if
// nothing worse happened.
func closeNode(n *node.Node, err *error) {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 5*time.Second)
	defer cancel()
	if cerr := n.Close(ctx); cerr != nil && *err == nil {
		*err = errors.Join(fmt.Errorf("closing node %s", n.ID()), cerr)
	}
}

// timeline prints rows of "time  who  what happened", the time counted
// from start.
type timeline struct {
	out   io.Writer
	clk   clock.Clock
	start time.Time
	mu    sync.Mutex
}

func (tl *timeline) header(who string) {
	fmt.Fprintf(tl.out, "%8s  %-6s  %s\n", "time", who, "what happened")
	fmt.Fprintf(tl.out, "%8s  %-6s  %s\n", "--------", "------", "----------------------------------------")
}

// line prints one row; the caller holds tl.mu.
func (tl *timeline) line(who, what string) {
	fmt.Fprintf(tl.out, "%+8.3f  %-6s  %s\n", tl.clk.Since(tl.start).Seconds(), who, what)
}

func (tl *timeline) note(who, what string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.line(who, what)
}
