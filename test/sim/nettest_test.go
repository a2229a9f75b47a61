package sim_test

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/tetherkit/tether/test/sim"
)

// TestConformance runs the x/net/nettest suite for net.Conn against a network
// on the real clock, outside any bubble: no Quiesce, no delay.
func TestConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		n := sim.New(sim.Config{})
		l, err := n.Host("b").Listen(":80")
		if err != nil {
			n.Close()
			return nil, nil, nil, err
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c1, err = n.Host("a").Dial(ctx, "b:80")
		if err != nil {
			n.Close()
			<-accepted
			return nil, nil, nil, err
		}
		c2 = <-accepted
		stop = func() {
			c1.Close()
			c2.Close()
			l.Close()
			n.Close()
		}
		return c1, c2, stop, nil
	})
}
