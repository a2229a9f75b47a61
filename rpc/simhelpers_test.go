package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/test/sim"
)

// simServe serves cfg on host "server" of n, port 7000, and closes the
// server when the test's function returns.
func simServe(t *testing.T, n *sim.Network, cfg rpc.Config) *rpc.Server {
	t.Helper()
	s, err := rpc.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := n.Host("server").Listen(":7000")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.Close(ctx)
		<-done
	})
	return s
}

// simDial connects host "client" of n to the server.
func simDial(t *testing.T, n *sim.Network, cfg rpc.Config) *rpc.Conn {
	t.Helper()
	c, err := rpc.Dial(context.Background(), n.Host("client").DialContext, "tcp", "server:7000", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.CloseWithReason(ctx, "test over")
	})
	return c
}

// settle lets a second of fake time pass — longer than any latency in
// these tests — and then everything due run: what was sent has arrived and
// been acted on.
func settle(n *sim.Network) {
	n.Clock().Sleep(time.Second)
	n.Wait()
}

// serverConn returns the server's one connection.
func serverConn(t *testing.T, n *sim.Network, s *rpc.Server) *rpc.Conn {
	t.Helper()
	settle(n)
	cs := s.Conns()
	if len(cs) != 1 {
		t.Fatalf("server has %d connections, want 1", len(cs))
	}
	return cs[0]
}
