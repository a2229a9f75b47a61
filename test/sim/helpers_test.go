package sim_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tetherkit/tether/test/sim"
)

const ms = time.Millisecond

// stopwatch measures time on the network's clock.
type stopwatch struct {
	n     *sim.Network
	start time.Time
}

func startWatch(n *sim.Network) *stopwatch { return &stopwatch{n, n.Clock().Now()} }

func (s *stopwatch) elapsed() time.Duration { return s.n.Clock().Since(s.start) }

// serveEcho accepts connections on l until it is closed and echoes each one
// until it ends.
func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// listen listens on host:port or fails the test.
func listen(t *testing.T, n *sim.Network, host, address string) net.Listener {
	t.Helper()
	l, err := n.Host(host).Listen(address)
	if err != nil {
		t.Fatalf("Listen(%q) on %s: %v", address, host, err)
	}
	return l
}

// dial dials from host to address or fails the test.
func dial(t *testing.T, n *sim.Network, host, address string) net.Conn {
	t.Helper()
	c, err := n.Host(host).Dial(t.Context(), address)
	if err != nil {
		t.Fatalf("Dial(%q) from %s: %v", address, host, err)
	}
	return c
}

// pair returns both ends of a new connection from host a to host b.
func pair(t *testing.T, n *sim.Network, a, b string) (client, server net.Conn) {
	t.Helper()
	l := listen(t, n, b, ":0")
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client = dial(t, n, a, l.Addr().String())
	server = <-accepted
	return client, server
}

// result is what a background Read or Write returned.
type result struct {
	n   int
	err error
	at  time.Duration
}

// readAsync starts a Read of up to size bytes into a fresh buffer and reports
// the result with the time it returned.
func readAsync(c net.Conn, sw *stopwatch, size int) (<-chan result, []byte) {
	buf := make([]byte, size)
	ch := make(chan result, 1)
	go func() {
		k, err := c.Read(buf)
		ch <- result{k, err, sw.elapsed()}
	}()
	return ch, buf
}

// pending reports whether ch has nothing yet.
func pending[T any](ch <-chan T) bool { return len(ch) == 0 }

// isTimeout reports whether err is a net.Error timeout on a deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}
