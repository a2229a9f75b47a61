package persistent

import (
	"net"
	"sync"
)

// NetConn adapts a net.Conn to [Connection].
//
// A persistent connection learns that a connection died only from Done.
// NetConn closes Done when Close is called — by the owner, or by the code
// that reads the connection when a read fails — so a read loop that calls
// Close on error is all it takes for a persistent connection to notice a
// peer that went away.
type NetConn struct {
	net.Conn

	once sync.Once
	done chan struct{}
	err  error
}

// NewNetConn wraps c.
func NewNetConn(c net.Conn) *NetConn {
	return &NetConn{Conn: c, done: make(chan struct{})}
}

// Close closes the underlying connection, once, then closes Done. Later calls
// return the first call's error.
func (c *NetConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		close(c.done)
	})
	return c.err
}

// Done is closed once Close has been called.
func (c *NetConn) Done() <-chan struct{} { return c.done }
