package sim

import (
	"context"
	"net"
)

// firstEphemeral is the first port a host gives to its dials and to
// Listen(":0"); the ports then count up, wrapping at 65535.
const firstEphemeral = 49152

// Host is a named machine on a Network: it listens and dials. Get one with
// Network.Host. Its methods are safe for concurrent use.
type Host struct {
	n    *Network
	name string

	// Guarded by n.mu.
	listeners map[int]*listener
	nextPort  int
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// ephemeral returns the next free port of h. n.mu is held.
func (h *Host) ephemeral() int {
	for {
		p := h.nextPort
		h.nextPort++
		if h.nextPort > 65535 {
			h.nextPort = firstEphemeral
		}
		if h.listeners[p] == nil {
			return p
		}
	}
}

// Listen listens on address, ":port" or "host:port" where host is h's name.
// Port 0 picks the next ephemeral port; Addr tells which. A port already
// listened on gives an error wrapping syscall.EADDRINUSE, another host's name
// one wrapping syscall.EADDRNOTAVAIL.
func (h *Host) Listen(address string) (net.Listener, error) {
	host, port, err := parseAddr(address)
	if err != nil {
		return nil, opError("listen", nil, nil, err)
	}
	if host != "" && host != h.name {
		return nil, opError("listen", nil, Addr{host, port}, errNotLocal)
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return nil, opError("listen", nil, Addr{h.name, port}, net.ErrClosed)
	}
	if port == 0 {
		port = h.ephemeral()
	}
	addr := Addr{h.name, port}
	if h.listeners[port] != nil {
		return nil, opError("listen", nil, addr, errInUse)
	}
	l := &listener{h: h, addr: addr}
	h.listeners[port] = l
	return l, nil
}

// Dial connects to address, "host:port" (an empty host means h itself),
// from the next ephemeral port of h, and returns once the connection is
// established: after a SYN has gone to the listener and a SYN-ACK has come
// back, two one-way latencies. A refused connection gives a *net.OpError
// wrapping syscall.ECONNREFUSED. If the SYN or SYN-ACK is lost to a
// partition, Dial waits until ctx is done and then fails with an error
// wrapping ctx.Err() (a net.Error whose Timeout is true when the deadline
// passed): like TCP with the SYN retries folded into the context. A host
// name that Network.Host never made fails at once with a *net.DNSError
// (IsNotFound), as a name that does not resolve.
func (h *Host) Dial(ctx context.Context, address string) (net.Conn, error) {
	host, port, err := parseAddr(address)
	if err != nil {
		return nil, opError("dial", nil, nil, err)
	}
	if host == "" {
		host = h.name
	}
	raddr := Addr{host, port}
	if err := ctx.Err(); err != nil {
		return nil, opError("dial", nil, raddr, err)
	}

	n := h.n
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return nil, opError("dial", nil, raddr, net.ErrClosed)
	}
	if n.hosts[host] == nil {
		n.mu.Unlock()
		return nil, opError("dial", nil, raddr, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true})
	}
	n.lastConn++
	c := newConn(n, n.lastConn, Addr{h.name, h.ephemeral()}, raddr)
	e := newEndpoint(c, 0)
	e.dialing = true
	e.dialDone = make(chan struct{})
	c.ep[0] = e
	n.conns[c.id] = c
	n.send(c, 0, segSYN, nil)
	n.mu.Unlock()

	select {
	case <-e.dialDone:
	case <-ctx.Done():
		n.mu.Lock()
		if e.dialing {
			// Give up. A SYN-ACK that still arrives is answered with an RST.
			e.closed = true
			e.finishDial(ctx.Err())
			n.forgetIfDone(c)
		}
		n.mu.Unlock()
	}
	n.mu.Lock()
	err = e.dialErr
	n.mu.Unlock()
	if err != nil {
		// Like the net package for a dial that did not bind first: no
		// source address, so the same failure reads the same every time.
		return nil, opError("dial", nil, raddr, err)
	}
	return e, nil
}

// DialContext is Dial with the signature of net.Dialer.DialContext, so that
// h.DialContext can stand in for it. network must be "sim", "tcp", "tcp4" or
// "tcp6"; all mean the same.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "sim", "tcp", "tcp4", "tcp6":
		return h.Dial(ctx, address)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
}
