package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// Selective receive takes the first matching message in arrival order and
// keeps the others, in order, for later.
func TestSelectiveReceive(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		done := make(chan struct{})
		p := n.Go(func(p *node.Process) error {
			defer close(done)
			ctx := context.Background()
			// Wait for "go" although other messages came first.
			p.Receive(ctx, node.Tag("go", func(args []any) error { r.add("go %v", args); return nil }))
			for range 3 {
				p.Receive(ctx, node.Any(func(msg []any) error { r.add("then %v", msg); return nil }))
			}
			return nil
		})
		n.Send(p, "a", 1)
		n.Send(p, "b", 2)
		n.Send(p, "go", 0)
		n.Send(p, "c", 3)
		<-done
		r.expect(t, "go [0]", "then [a 1]", "then [b 2]", "then [c 3]")
	})
}

func TestReceiveTimeoutAndLoop(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		done := make(chan struct{})
		clk := clock.Real()
		start := clk.Now()
		p := n.Go(func(p *node.Process) error {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := p.Receive(ctx, node.Tag("never", func([]any) error { return nil }))
			r.add("timeout after %v: %v", clk.Since(start), errors.Is(err, node.ErrNoMessage))
			sum := int64(0)
			err = p.ReceiveLoop(context.Background(),
				node.Tag("add", func(args []any) error { sum += args[0].(int64); return nil }),
				node.Tag("end", func([]any) error { return node.ErrStop }))
			r.add("sum %d, %v", sum, err)
			return nil
		})
		synctest.Wait()
		clk.Sleep(3 * time.Second)
		for i := 1; i <= 4; i++ {
			n.Send(p, "add", i)
		}
		n.Send(p, "end")
		<-done
		r.expect(t, "timeout after 2s: true", "sum 10, <nil>")
	})
}

func TestProcessTerminations(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		normal := n.Port(nil)
		crashing := n.Port(nil)
		remote := "elsewhere#x"
		watcher := n.Go(func(p *node.Process) error {
			for _, port := range []string{normal, crashing, "a#missing", remote} {
				p.Monitor(port)
			}
			for range 4 {
				p.Receive(context.Background(), node.Terminated(func(t node.Termination) error {
					r.add("%s %s", t.Port, t.Kind)
					return nil
				}))
			}
			return nil
		})
		_ = watcher
		synctest.Wait()
		n.Kill(normal)
		synctest.Wait()
		n.Kill(crashing, "boom")
		clock.Real().Sleep(3 * time.Second) // the unknown node: the connect timeout (2 s) passes
		got := strings.Join(sortedCopy(func() []string { synctest.Wait(); return r.take() }()), "|")
		want := strings.Join(sortedCopy([]string{
			"a#missing no process", remote + " unknown node", normal + " normal", crashing + " exception",
		}), "|")
		if got != want {
			t.Fatalf("terminations\n  %s\nwant\n  %s", got, want)
		}
	})
}

func TestProcessEndsItsPort(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		watch := func(p string) {
			n.Monitor(p, node.Func(func(reason []any) { r.add("%s", node.FormatReason(reason)) }))
		}
		release := make(chan struct{})
		ok := n.Go(func(p *node.Process) error { <-release; return nil })
		watch(ok)
		fails := n.Go(func(p *node.Process) error { <-release; return errors.New("gave up") })
		watch(fails)
		panics := n.Go(func(p *node.Process) error { <-release; panic("bug") })
		watch(panics)
		synctest.Wait()
		close(release)
		synctest.Wait()
		got := sortedCopy(r.take())
		want := sortedCopy([]string{"normal", "die gave up", "die panic: bug"})
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("deaths %q, want %q", got, want)
		}

		// A killed process: its context ends, and Receive says why.
		res := make(chan error, 1)
		victim := n.Go(func(p *node.Process) error {
			err := p.Receive(context.Background(), node.Tag("never", nil))
			res <- err
			return err
		})
		synctest.Wait()
		n.Kill(victim, "shot")
		var ke *node.KilledError
		if err := <-res; !errors.As(err, &ke) || node.FormatReason(ke.Reason) != "shot" {
			t.Fatalf("Receive in a killed process = %v", err)
		}
	})
}

func TestMailboxIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := node.Start(context.Background(), node.Config{ID: "a", Rand: clock.NewRand(1), Limits: node.Limits{Mailbox: 10}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close(context.Background())
		var r recorder
		release := make(chan struct{})
		p := n.Go(func(p *node.Process) error { <-release; return nil })
		n.Monitor(p, node.Func(func(reason []any) { r.add("%s", node.FormatReason(reason)) }))
		for i := range 11 {
			n.Send(p, i)
		}
		r.expect(t, "mailbox_full more than 10 messages waiting")
		close(release)
	})
}

func TestBroadcastAndDMap(t *testing.T) {
	inBubble(t, func(t *testing.T, n *node.Node) {
		var r recorder
		for i := range 3 {
			n.Port(func(c *node.Context, msg []any) error { r.add("%d got %v", i, msg); return nil })
		}
		n.Broadcast(n.ID(), "hello")
		synctest.Wait()
		if got := sortedCopy(r.take()); strings.Join(got, "|") != "0 got [hello]|1 got [hello]|2 got [hello]" {
			t.Fatalf("broadcast reached %q", got)
		}

		square := func(c *node.Context, msg []any) error {
			c.Send(msg[1].(string), msg[0].(int64)*msg[0].(int64))
			return nil
		}
		workers := []string{n.Port(square), n.Port(square)}
		items := []any{1, 2, 3, 4, 5}
		replies, err := n.DMap(context.Background(), workers, items, func(it any) []any { return []any{it} })
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(replies) != "[[1] [4] [9] [16] [25]]" {
			t.Fatalf("DMap = %v", replies)
		}

		// A worker that dies with work outstanding fails its items only: the
		// map returns the other replies, and a *DMapError names the worker
		// and the items.
		dead := n.Port(func(*node.Context, []any) error { return errors.New("cannot square") })
		replies, err = n.DMap(context.Background(), []string{workers[0], dead}, items, func(it any) []any { return []any{it} })
		var de *node.DMapError
		if !errors.As(err, &de) || fmt.Sprint(de.Items) != "[1 3]" || len(de.Dead) != 1 || de.Dead[0].Port != dead ||
			node.FormatReason(de.Dead[0].Reason) != "die cannot square" || !strings.Contains(err.Error(), dead) {
			t.Fatalf("DMap with a dying worker = %v", err)
		}
		if fmt.Sprint(replies) != "[[1] [] [9] [] [25]]" {
			t.Fatalf("DMap with a dying worker: replies %v", replies)
		}
	})
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}
