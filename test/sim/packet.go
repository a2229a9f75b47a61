package sim

import (
	"net"
	"os"
	"time"

	"github.com/tetherkit/tether/clock"
)

// PacketFaults are what may befall a datagram between two hosts (see
// Host.ListenPacket), beyond the latency and the partitions that every
// segment meets. Datagrams draw their latencies one by one, so whenever
// Latency.Max exceeds Latency.Min a later datagram may overtake an earlier
// one: that is their reordering. The zero value loses and duplicates
// nothing.
type PacketFaults struct {
	Loss      float64 // the probability that a datagram vanishes on its way
	Duplicate float64 // the probability that it arrives twice, the copy with a latency of its own
}

// SetPacketFaults sets the faults of the datagrams between hosts a and b,
// both ways (a == b: within one host), for those sent from now on.
func (n *Network) SetPacketFaults(a, b string, f PacketFaults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.packetFaults[pair(a, b)] = f
}

// packetQueue bounds the datagrams a socket holds unread; more vanish, as
// from a full socket buffer.
const packetQueue = 1024

// ListenPacket opens a datagram socket on address, ":port" or "host:port"
// where host is h's name; port 0 picks the next ephemeral port. Its
// datagrams are not TCP's bytes: each travels alone, with a latency drawn
// for it, through the partitions (a datagram that meets one vanishes, and
// the next may pass once it heals), and may be lost, duplicated or
// overtaken by a later one (SetPacketFaults). WriteTo never blocks and
// reports no loss; ReadFrom returns one datagram (truncated to the buffer,
// as UDP does) with the sender's Addr. A crashed host's sockets are frozen
// as its connections are. Errors are as Listen's.
func (h *Host) ListenPacket(address string) (net.PacketConn, error) {
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
		for port = h.ephemeral(); h.packets[port] != nil; port = h.ephemeral() {
		}
	}
	if h.packets[port] != nil {
		return nil, opError("listen", nil, Addr{h.Name(), port}, errInUse)
	}
	h.m.sockets++
	id := ConnID{h.Name(), h.m.sockets}
	p := &packetConn{h: h, id: id, addr: Addr{h.Name(), port}, rnd: n.internal.Derive("packet/" + id.String())}
	h.packets[port] = p
	return p, nil
}

// packetConn is a datagram socket; it implements net.PacketConn.
type packetConn struct {
	h    *Host
	id   ConnID // for the canonical order of its datagrams: host and number of the socket
	addr Addr
	rnd  *clock.Rand // latency, loss and duplicate draws

	// Guarded by n.mu.
	seq      uint64
	inbox    []datagram
	closed   bool
	rdl, wdl time.Time
	sig      chan struct{}
}

type datagram struct {
	from Addr
	data []byte
}

// WriteTo sends p to addr, a sim Addr or any net.Addr whose String is
// "host:port", and returns len(p): whether the datagram arrives is not
// its business.
func (p *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n := p.h.n
	if addr == nil {
		return 0, p.opError("write", nil, errNoAddr)
	}
	host, port, err := parseAddr(addr.String())
	if err != nil {
		return 0, p.opError("write", addr, err)
	}
	to := Addr{host, port}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case p.closed:
		return 0, p.opError("write", to, net.ErrClosed)
	case p.h.crashed && !n.closing:
		return len(b), nil // nothing of it runs: nothing leaves
	case p.expired(p.wdl):
		return 0, p.opError("write", to, os.ErrDeadlineExceeded)
	case n.machines[host] == nil:
		return 0, p.opError("write", to, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true})
	}
	f := n.packetFaults[pair(p.addr.Host, host)]
	copies := 1
	if f.Duplicate > 0 && p.rnd.Float64() < f.Duplicate {
		copies = 2
	}
	if f.Loss > 0 && p.rnd.Float64() < f.Loss {
		n.emit(Event{Kind: "lose-dgram", From: p.addr.String(), To: to.String(), Bytes: len(b)})
		copies--
	}
	data := append([]byte(nil), b...)
	lat := n.latencyOf(p.addr.Host, host)
	for range copies {
		p.seq++
		n.push(&item{at: n.now() + lat.draw(p.rnd), class: classDatagram, seq: p.seq, p: p, to: to, data: data, index: -1})
	}
	return len(b), nil
}

// deliverDatagram hands datagram it to the socket it is for. n.mu is held.
func (n *Network) deliverDatagram(it *item) {
	from, to := it.p.addr, it.to
	var dst *packetConn
	if m := n.machines[to.Host]; m != nil && m.cur != nil && !m.cur.crashed {
		dst = m.cur.packets[to.Port]
	}
	e := Event{Kind: "dgram", From: from.String(), To: to.String(), Bytes: len(it.data)}
	switch {
	case n.cut[[2]string{from.Host, to.Host}]:
		e.Kind, e.Text = "drop-dgram", "partition"
	case dst == nil:
		e.Kind, e.Text = "drop-dgram", "no socket"
	case len(dst.inbox) >= packetQueue:
		e.Kind, e.Text = "drop-dgram", "queue full"
	}
	n.emit(e)
	if e.Kind != "dgram" {
		return
	}
	dst.inbox = append(dst.inbox, datagram{from, it.data})
	dst.notify()
}

// ReadFrom waits for a datagram and copies it into b (what does not fit
// is lost), returning its size and its sender.
func (p *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n := p.h.n
	for {
		n.mu.Lock()
		frozen := p.h.crashed && !p.closed && !n.closing
		switch {
		case p.closed || n.closing:
			n.mu.Unlock()
			return 0, nil, p.opError("read", nil, net.ErrClosed)
		case frozen && !p.expired(p.rdl):
			// Nothing of a crashed host runs: wait for Close.
		case p.expired(p.rdl):
			n.mu.Unlock()
			return 0, nil, p.opError("read", nil, os.ErrDeadlineExceeded)
		case len(p.inbox) > 0:
			d := p.inbox[0]
			p.inbox[0] = datagram{}
			p.inbox = p.inbox[1:]
			n.mu.Unlock()
			return copy(b, d.data), d.from, nil
		}
		if p.sig == nil {
			p.sig = make(chan struct{})
		}
		ch, dl := p.sig, p.rdl
		if frozen {
			dl = time.Time{}
		}
		n.mu.Unlock()
		if dl.IsZero() {
			<-ch
			continue
		}
		t := p.h.clk.NewTimer(p.h.clk.Until(dl))
		select {
		case <-ch:
		case <-t.Chan():
		}
		t.Stop()
	}
}

// notify wakes the reader, unless the host crashed. n.mu is held.
func (p *packetConn) notify() {
	if p.h.crashed && !p.closed && !p.h.n.closing {
		return
	}
	p.interrupt()
}

// interrupt wakes the reader. n.mu is held.
func (p *packetConn) interrupt() {
	if p.sig != nil {
		p.h.n.release(p.sig)
		p.sig = nil
	}
}

func (p *packetConn) expired(dl time.Time) bool {
	return !dl.IsZero() && !p.h.n.start.Add(p.h.clk.readLocked()).Before(dl)
}

// Close closes the socket: blocked and later reads fail with an error
// wrapping net.ErrClosed, and the port is free again.
func (p *packetConn) Close() error {
	n := p.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.closed {
		return p.opError("close", nil, net.ErrClosed)
	}
	p.closeLocked()
	return nil
}

func (p *packetConn) closeLocked() {
	p.closed = true
	p.inbox = nil
	if p.h.packets[p.addr.Port] == p {
		delete(p.h.packets, p.addr.Port)
	}
	p.interrupt()
}

// LocalAddr returns the socket's address, an Addr.
func (p *packetConn) LocalAddr() net.Addr { return p.addr }

// SetDeadline sets both deadlines.
func (p *packetConn) SetDeadline(t time.Time) error { return p.setDeadline(t, true, true) }

// SetReadDeadline makes ReadFrom fail with an error wrapping
// os.ErrDeadlineExceeded once the host's clock reaches t; zero clears it.
func (p *packetConn) SetReadDeadline(t time.Time) error { return p.setDeadline(t, true, false) }

// SetWriteDeadline makes WriteTo fail once the host's clock reaches t.
func (p *packetConn) SetWriteDeadline(t time.Time) error { return p.setDeadline(t, false, true) }

func (p *packetConn) setDeadline(t time.Time, read, write bool) error {
	n := p.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.closed {
		return p.opError("set", nil, net.ErrClosed)
	}
	if read {
		p.rdl = t
	}
	if write {
		p.wdl = t
	}
	p.interrupt()
	return nil
}

func (p *packetConn) opError(op string, addr net.Addr, err error) error {
	return opError(op, p.addr, addr, err)
}
