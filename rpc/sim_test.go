package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/test/sim"
)

// The deadline travels as a duration: the handler's context ends one
// one-way latency after the caller's, on the server's clock.
func TestDeadlineTravels(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond}}, func(t *testing.T, n *sim.Network) {
		clk := n.Clock()
		start := clk.Now()
		handlerEnd := make(chan time.Duration, 1)
		var hs rpc.Handlers
		blocks.Implement(&hs, func(ctx context.Context, _ int) (string, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("the handler's context has no deadline")
			}
			<-ctx.Done()
			if ctx.Err() != context.DeadlineExceeded {
				t.Errorf("handler's context ended with %v", ctx.Err())
			}
			handlerEnd <- clk.Since(start)
			return "", ctx.Err()
		})
		simServe(t, n, rpc.Config{Handlers: &hs})
		c := simDial(t, n, rpc.Config{})
		start = clk.Now()
		ctx, cancel := clock.WithTimeout(context.Background(), clk, 2*time.Second)
		defer cancel()
		_, err := blocks.Call(ctx, c, 1)
		if !errors.Is(err, context.DeadlineExceeded) || clk.Since(start) != 2*time.Second {
			t.Fatalf("call = %v after %v, want DeadlineExceeded after exactly 2s", err, clk.Since(start))
		}
		if d := <-handlerEnd; d != 2*time.Second+10*time.Millisecond {
			t.Fatalf("handler's deadline passed at %v, want 2.01s (2 s from its arrival, 10 ms later)", d)
		}
	})
}

// A partition is silent; heartbeats notice it at both ends.
func TestPartitionTripsTheHeartbeats(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: time.Millisecond, Max: 3 * time.Millisecond}}, func(t *testing.T, n *sim.Network) {
		srv := simServe(t, n, rpc.Config{Handlers: echoHandlers(nil)})
		c := simDial(t, n, rpc.Config{})
		sc := serverConn(t, n, srv)
		if _, err := echo.Call(context.Background(), c, Echo{N: 1}); err != nil {
			t.Fatal(err)
		}
		clk := n.Clock()
		n.Partition("client", "server")
		cut := clk.Now()
		<-c.Done()
		<-sc.Done()
		if d := clk.Since(cut); d < 20*time.Second || d > 40*time.Second {
			t.Fatalf("closed %v after the partition, want within the 30 s timeout (plus up to an interval)", d)
		}
		for _, conn := range []*rpc.Conn{c, sc} {
			if err := conn.Err(); !errors.Is(err, rpc.ErrClosed) || !strings.Contains(err.Error(), "heartbeat timeout: nothing heard from the peer for") {
				t.Fatalf("%v: %v", conn, err)
			}
		}
	})
}
