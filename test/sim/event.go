package sim

import (
	"fmt"
	"strings"
	"time"
)

// Event is one network-level happening, reported to Config.OnEvent by the
// scheduler goroutine in the order the network saw them. With the same seed
// and the same program, the sequence of events is the same (see the package
// documentation for what that requires).
//
// Kind is one of:
//
//	syn       a SYN reached a listener and the connection was queued for Accept
//	refuse    a SYN found no listener (or a full backlog); an RST goes back
//	synack    the SYN-ACK reached the dialer; its Dial returns
//	data      Bytes bytes reached the receiver (discarded if it had closed, been
//	          reset, or was a dialer still waiting for its SYN-ACK)
//	fin       the sender's Close reached the receiver: its Read returns io.EOF once drained
//	rst       an RST reached its receiver: a Dial fails with ECONNREFUSED, a conn with ECONNRESET
//	drop-syn, drop-synack, drop-data, drop-fin, drop-rst
//	          a segment vanished because its direction was partitioned
//	reset     Reset broke this connection at both ends at once
//	partition the direction From → To (host names) stopped delivering
//	heal      the direction From → To delivers again
//
// For segments From and To are "host:port" addresses of the sender and the
// receiver; for partition and heal they are host names. Conn is the
// connection's number (1, 2, … in Dial order), zero for partition and heal.
type Event struct {
	At    time.Duration // time since the network was made, on its clock
	Kind  string
	Conn  int
	From  string
	To    string
	Bytes int
}

// String formats e on one line, for example "20ms data #3 a:49152>b:80 512B".
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", e.At, e.Kind)
	if e.Conn != 0 {
		fmt.Fprintf(&b, " #%d", e.Conn)
	}
	fmt.Fprintf(&b, " %s>%s", e.From, e.To)
	if e.Bytes != 0 {
		fmt.Fprintf(&b, " %dB", e.Bytes)
	}
	return b.String()
}

// emit records an event for the scheduler to report. n.mu is held.
func (n *Network) emit(kind string, conn int, from, to string, bytes int) {
	if n.cfg.OnEvent == nil {
		return
	}
	n.events = append(n.events, Event{At: n.now(), Kind: kind, Conn: conn, From: from, To: to, Bytes: bytes})
	n.poke()
}

// emitSeg records an event about segment it. n.mu is held.
func (n *Network) emitSeg(kind string, it *item) {
	if n.cfg.OnEvent == nil {
		return
	}
	c := it.c
	n.emit(kind, c.id, c.addr[it.dir].String(), c.addr[1-it.dir].String(), len(it.data))
}
