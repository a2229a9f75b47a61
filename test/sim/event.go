package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event is one happening in the simulation, reported to Config.OnEvent by
// the scheduler goroutine in the order the network saw them. With the same
// seed and the same program, the sequence of events is the same (see the
// package documentation for what that requires), so the events are the
// simulation's trace.
//
// Kind is one of:
//
//	syn       a SYN reached a listener and the connection was queued for Accept
//	refuse    a SYN found no listener (or a full backlog); an RST goes back
//	synack    the SYN-ACK reached the dialer; its Dial returns
//	data      Bytes bytes reached the receiver (discarded if it had closed, been
//	          reset, crashed, or was a dialer still waiting for its SYN-ACK)
//	fin       the sender's Close reached the receiver: its Read returns io.EOF once drained
//	rst       an RST reached its receiver: a Dial fails with ECONNREFUSED, a conn with ECONNRESET
//	drop-syn, drop-synack, drop-data, drop-fin, drop-rst
//	          a segment vanished because its direction was partitioned
//	reset     Reset broke this connection at both ends at once
//	partition the direction From → To (host names) stopped delivering
//	heal      the direction From → To delivers again
//	latency   SetLatency set the delay between hosts From and To to Text
//	skew      SetSkew set host From's clock: Text is the offset and the drift
//	crash     host From crashed (Text: which incarnation)
//	restart   host From was made again after a crash (Text: the new incarnation)
//	log       host From (empty: the test itself) logged Text (Host.Logf, Network.Logf)
//	dgram     a datagram of Bytes bytes reached the socket To (Host.ListenPacket)
//	drop-dgram a datagram vanished at its destination: Text says why (partition,
//	          no socket, queue full)
//	lose-dgram a datagram was lost as it left, to PacketFaults.Loss
//
// For segments From and To are "host:port" addresses of the sender and the
// receiver, and Conn is the connection's ID; for the other kinds From and To
// are host names, and Conn is zero except for reset.
type Event struct {
	At    time.Duration // time since the network was made, on its clock
	Kind  string
	Conn  ConnID
	From  string
	To    string
	Bytes int
	Text  string
}

// String formats e on one line, for example "20ms data a#3 a:49152>b:80
// 512B", "1.5s crash b incarnation 0" or "2s log a: sent 7".
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.At.String())
	b.WriteByte(' ')
	b.WriteString(e.Kind)
	if e.Kind == "log" {
		b.WriteByte(' ')
		if e.From != "" {
			b.WriteString(e.From)
			b.WriteString(": ")
		}
		b.WriteString(e.Text)
		return b.String()
	}
	if !e.Conn.IsZero() {
		b.WriteByte(' ')
		b.WriteString(e.Conn.String())
	}
	if e.From != "" || e.To != "" {
		b.WriteByte(' ')
		b.WriteString(e.From)
		if e.To != "" {
			b.WriteByte('>')
			b.WriteString(e.To)
		}
	}
	if e.Bytes != 0 {
		fmt.Fprintf(&b, " %dB", e.Bytes)
	}
	if e.Text != "" {
		b.WriteByte(' ')
		b.WriteString(e.Text)
	}
	return b.String()
}

// emit records e, at the current instant, for the scheduler to report.
// n.mu is held.
func (n *Network) emit(e Event) {
	if !n.record {
		return
	}
	e.At = n.now()
	n.events = append(n.events, e)
	n.poke()
}

// emitSeg records an event about segment it. n.mu is held.
func (n *Network) emitSeg(kind string, it *item) {
	if !n.record {
		return
	}
	c := it.c
	n.emit(Event{Kind: kind, Conn: c.id, From: c.addrs[it.dir], To: c.addrs[1-it.dir], Bytes: len(it.data)})
}

// Logf records a line in the trace from the test itself (an Event of kind
// "log" with no host), at the current instant, in order with the network's
// events. See Host.Logf.
func (n *Network) Logf(format string, args ...any) { n.logf(nil, format, args...) }

func (n *Network) logf(h *Host, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.record || h != nil && h.crashed {
		return
	}
	from := ""
	if h != nil {
		from = h.Name()
	}
	n.emit(Event{Kind: "log", From: from, Text: fmt.Sprintf(format, args...)})
}

func itoa(i int) string { return strconv.Itoa(i) }
