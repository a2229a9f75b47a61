package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/tetherkit/tether/clock"
)

// firstEphemeral is the first port a host gives to its dials and to
// Listen(":0"); the ports then count up, wrapping at 65535.
const firstEphemeral = 49152

// ErrCrashed is the cause of the errors that a crashed host's Listen and
// Dial return (see Network.Crash), wrapped in a *net.OpError.
var ErrCrashed = errors.New("sim: host crashed")

// machine is what lasts of a host across its incarnations: its name, its
// clock's skew, and the counters that keep connection IDs and ports unique.
// Guarded by n.mu.
type machine struct {
	name     string
	cur      *Host // the incarnation running, or the last one
	incs     int   // incarnations made
	dials    int   // connections dialled: the N of the next ConnID
	nextPort int
	timers   uint64 // timers set on the host's clocks
	sockets  int    // datagram sockets opened
	frame    frame
	nagle    time.Duration
}

// Host is one incarnation of a named machine on a Network: it listens and
// dials, and has its own clock (Clock) and random streams (Rand). Get one
// with Network.Host. Once it has crashed (Network.Crash), Network.Host
// returns a new incarnation with the same name, while this one stays dead.
// Its methods are safe for concurrent use.
type Host struct {
	n   *Network
	m   *machine
	inc int
	clk *simClock
	rnd *clock.Rand

	// Guarded by n.mu.
	crashed   bool
	listeners map[int]*listener
	packets   map[int]*packetConn
	suspended map[*timer]struct{} // timers that cannot fire: it crashed
}

// bootLocked makes the next incarnation of m. n.mu is held.
func (n *Network) bootLocked(m *machine) *Host {
	h := &Host{
		n:         n,
		m:         m,
		inc:       m.incs,
		rnd:       n.internal.Derive("host/" + m.name + "/" + strconv.Itoa(m.incs)),
		listeners: make(map[int]*listener),
		packets:   make(map[int]*packetConn),
		suspended: make(map[*timer]struct{}),
	}
	h.clk = &simClock{n: n, h: h}
	m.incs++
	n.hosts = append(n.hosts, h)
	if h.inc > 0 {
		n.emit(Event{Kind: "restart", From: m.name, Text: "incarnation " + strconv.Itoa(h.inc)})
	}
	return h
}

// Name returns the host's name.
func (h *Host) Name() string { return h.m.name }

// Incarnation returns which incarnation of its machine h is: 0 for the
// first, 1 after the first crash, and so on.
func (h *Host) Incarnation() int { return h.inc }

// Crashed reports whether h has crashed.
func (h *Host) Crashed() bool {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	return h.crashed
}

// Clock returns the host's clock: the network's time seen through the
// machine's skew (Network.SetSkew; none by default, so that it reads as
// Network.Clock). Its timers are the scheduler's, each firing in a step of
// its own in a fixed order, so that what they wake happens in the same
// order on every run. When the host crashes its timers stop: none fires
// while the network runs. Conn deadlines of the host's connections are read
// on this clock.
func (h *Host) Clock() clock.Clock { return h.clk }

// Rand returns the random stream called name of this incarnation, derived
// from the network's seed, the host's name and the incarnation: the same on
// every run, and different after a restart, as a restarted process seeds
// itself afresh. Give it to what the host runs (a node's Config.Rand, say),
// so that a restarted program does not repeat its past: port IDs made from
// it are not reused.
func (h *Host) Rand(name string) *clock.Rand { return h.rnd.Derive(name) }

// Logf records a line in the trace: an Event of kind "log" from h, at the
// current instant, in order with the network's events (see Config.OnEvent).
// Nothing is recorded once h has crashed, nor when nobody wants events.
func (h *Host) Logf(format string, args ...any) { h.n.logf(h, format, args...) }

// ephemeral returns the next free port of h. n.mu is held.
func (h *Host) ephemeral() int {
	for {
		p := h.m.nextPort
		h.m.nextPort++
		if h.m.nextPort > 65535 {
			h.m.nextPort = firstEphemeral
		}
		if h.listeners[p] == nil {
			return p
		}
	}
}

// Listen listens on address, ":port" or "host:port" where host is h's name.
// Port 0 picks the next ephemeral port; Addr tells which. A port already
// listened on gives an error wrapping syscall.EADDRINUSE, another host's name
// one wrapping syscall.EADDRNOTAVAIL, a crashed host one wrapping
// ErrCrashed.
func (h *Host) Listen(address string) (net.Listener, error) {
	host, port, err := parseAddr(address)
	if err != nil {
		return nil, opError("listen", nil, nil, err)
	}
	if host != "" && host != h.Name() {
		return nil, opError("listen", nil, Addr{host, port}, errNotLocal)
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closing:
		return nil, opError("listen", nil, Addr{h.Name(), port}, net.ErrClosed)
	case h.crashed:
		return nil, opError("listen", nil, Addr{h.Name(), port}, ErrCrashed)
	}
	if port == 0 {
		port = h.ephemeral()
	}
	addr := Addr{h.Name(), port}
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
// partition, it is sent again after 1 s, 2 s, 4 s …, and after the sixth
// loss the Dial fails with ETIMEDOUT; ctx ends it sooner, with an error
// wrapping ctx.Err() (a net.Error whose Timeout is true when the deadline
// passed). A host name that Network.Host never made fails at once with a
// *net.DNSError (IsNotFound), as a name that does not resolve; a crashed h
// with an error wrapping ErrCrashed.
func (h *Host) Dial(ctx context.Context, address string) (net.Conn, error) {
	host, port, err := parseAddr(address)
	if err != nil {
		return nil, opError("dial", nil, nil, err)
	}
	if host == "" {
		host = h.Name()
	}
	raddr := Addr{host, port}
	if err := ctx.Err(); err != nil {
		return nil, opError("dial", nil, raddr, err)
	}

	n := h.n
	n.mu.Lock()
	switch {
	case n.closing:
		n.mu.Unlock()
		return nil, opError("dial", nil, raddr, net.ErrClosed)
	case h.crashed:
		n.mu.Unlock()
		return nil, opError("dial", nil, raddr, ErrCrashed)
	case n.machines[host] == nil:
		n.mu.Unlock()
		return nil, opError("dial", nil, raddr, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true})
	}
	h.m.dials++
	c := newConn(n, ConnID{h.Name(), h.m.dials}, Addr{h.Name(), h.ephemeral()}, raddr)
	e := newEndpoint(c, 0, h)
	e.dialing = true
	e.dialDone = make(chan struct{})
	c.ep[0] = e
	n.conns[c.id] = c
	n.send(c, 0, segSYN, nil)
	n.mu.Unlock()

	select {
	case <-e.dialDone:
	case <-ctx.Done():
		cerr := ctx.Err() // not under n.mu: a context may stop a timer of ours
		n.mu.Lock()
		if e.dialing {
			// Give up. A SYN-ACK that still arrives is answered with an RST.
			e.closed = true
			e.finishDial(cerr)
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
	if err := checkNetwork("dial", network); err != nil {
		return nil, err
	}
	return h.Dial(ctx, address)
}

// Transport returns h's network in the shape of net.Listen and
// net.Dialer.DialContext, which is node.Transport's:
//
//	node.Start(ctx, node.Config{Transport: h.Transport(), Clock: h.Clock(), Rand: h.Rand("node"), …})
func (h *Host) Transport() Transport { return Transport{h} }

// Transport is a host's network with the methods of net.Listen and
// net.Dialer.DialContext; get one with Host.Transport. The networks "sim",
// "tcp", "tcp4" and "tcp6" all mean the simulated one.
type Transport struct{ h *Host }

// Host returns the host whose network t is.
func (t Transport) Host() *Host { return t.h }

// Listen is Host.Listen, for network.
func (t Transport) Listen(network, address string) (net.Listener, error) {
	if err := checkNetwork("listen", network); err != nil {
		return nil, err
	}
	return t.h.Listen(address)
}

// Dial is Host.Dial, for network.
func (t Transport) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return t.h.DialContext(ctx, network, address)
}

func checkNetwork(op, network string) error {
	switch network {
	case "sim", "tcp", "tcp4", "tcp6":
		return nil
	}
	return &net.OpError{Op: op, Net: network, Err: net.UnknownNetworkError(network)}
}

// String returns the host's name and incarnation, "name/inc".
func (h *Host) String() string { return fmt.Sprintf("%s/%d", h.Name(), h.inc) }
