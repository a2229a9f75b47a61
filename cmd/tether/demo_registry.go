package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// runRegistryDemo plays the demo's third act: a seed and two nodes, carol
// and dave, that know only the seed's address. dave watches the registry
// family "greeters"; carol registers a greeter port there; dave sees it
// appear, calls it — reaching carol by her ID, through the seed — and
// sees it vanish when the port dies, and again when carol's node shuts
// down. scale stretches the pauses (1: about 3 s); ctx ending stops it
// at once.
func runRegistryDemo(ctx context.Context, out io.Writer, scale float64) (err error) {
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	clk := clock.Real()
	tl := &timeline{out: out, clk: clk, start: clk.Now()}
	pause := func(d time.Duration) bool { return clock.Sleep(ctx, clk, scaled(d)) == nil }
	interrupted := func() error {
		tl.mu.Lock()
		defer tl.mu.Unlock()
		fmt.Fprintln(out, "\nInterrupted.")
		return nil
	}
	start := func(id string, seeds ...string) (*node.Node, error) {
		return node.Start(ctx, node.Config{ID: id, Binds: []string{"127.0.0.1:0"}, Seeds: seeds, Secret: "tether-demo"})
	}
	seed, err := start("seed")
	if err != nil {
		return err
	}
	defer closeNode(seed, &err)
	carol, err := start("carol", seed.Addrs()[0])
	if err != nil {
		return err
	}
	carolClosed := false
	defer func() {
		if !carolClosed {
			closeNode(carol, &err)
		}
	}()
	dave, err := start("dave", seed.Addrs()[0])
	if err != nil {
		return err
	}
	defer closeNode(dave, &err)

	fmt.Fprintf(out, "\ntether demo, act 3: a seed (%s) and two nodes, carol and dave,\n", seed.Addrs()[0])
	fmt.Fprintf(out, "that know only the seed's address.\n")
	fmt.Fprintf(out, "carol offers a service in the registry; dave finds it, calls it, sees it go.\n\n")
	tl.header("node")

	changes := make(chan node.DBChange, 16)
	g, err := dave.DBMon("greeters", func(c node.DBChange) {
		var parts []string
		for _, k := range c.Added {
			parts = append(parts, "+ "+k)
		}
		for _, k := range c.Deleted {
			parts = append(parts, "- "+k)
		}
		if len(parts) == 0 {
			parts = append(parts, "(empty)")
		}
		tl.note("dave", fmt.Sprintf("registry: greeters %s", strings.Join(parts, ", ")))
		changes <- c
	})
	if err != nil {
		return err
	}
	defer g.Stop()
	mn := dave.MonitorNodes(func(id string, up bool, reason []any) {
		if id == "carol" && up {
			tl.note("dave", "link to carol is up: her address came from the seed")
		}
	})
	defer mn.Stop()
	next := func() (node.DBChange, bool) {
		select {
		case c := <-changes:
			return c, true
		case <-ctx.Done():
			return node.DBChange{}, false
		}
	}
	if _, ok := next(); !ok { // the family as it is: empty
		return interrupted()
	}

	greeter := func() string {
		return carol.Port(func(c *node.Context, msg []any) error { // NAME REPLY-PORT (from Call)
			c.Send(msg[1].(string), fmt.Sprintf("hello %v, from %s", msg[0], c.Self()))
			return nil
		})
	}
	if !pause(400 * time.Millisecond) {
		return interrupted()
	}
	svc := greeter()
	if _, err := carol.DBReg("greeters", svc, "says hello"); err != nil {
		return err
	}
	tl.note("carol", "DBReg(greeters, "+svc+")")
	if _, ok := next(); !ok {
		return interrupted()
	}
	callCtx, cancel := clock.WithTimeout(ctx, clk, 5*time.Second)
	got, err := dave.Call(callCtx, svc, "dave")
	cancel()
	if err != nil {
		return fmt.Errorf("calling the greeter: %w", err)
	}
	tl.note("dave", fmt.Sprintf("Call(%s) = %q", svc, got[0]))

	if !pause(400 * time.Millisecond) {
		return interrupted()
	}
	tl.note("carol", "kills "+svc)
	carol.Kill(svc)
	if _, ok := next(); !ok {
		return interrupted()
	}

	if !pause(400 * time.Millisecond) {
		return interrupted()
	}
	svc = greeter()
	carol.DBReg("greeters", svc, "says hello")
	tl.note("carol", "DBReg(greeters, "+svc+")")
	if _, ok := next(); !ok {
		return interrupted()
	}
	if !pause(400 * time.Millisecond) {
		return interrupted()
	}
	tl.note("carol", "▼ node carol shuts down")
	carolClosed = true
	closeNode(carol, &err)
	if _, ok := next(); !ok {
		return interrupted()
	}
	if !pause(300 * time.Millisecond) {
		return interrupted()
	}
	tl.note("", "■ done: closing dave and the seed")
	return err
}
