package node

import (
	"net"
	"sync"
)

// inflight holds the incoming connections still in their handshake, at
// most limit of them (Limits.Handshakes). When a new one would go past the
// limit, the oldest is abandoned — its connection closed, its handshake
// failing — rather than the new one refused: a peer that opens
// connections and sends nothing then holds up nobody for long, since a
// legitimate handshake needs only a round trip or two to pass, while
// refusing the newest would keep every node out for as long as the stalled
// ones last (the handshake timeout).
type inflight struct {
	mu    sync.Mutex
	limit int
	conns []net.Conn // oldest first
}

// add takes nc in, and returns the connection abandoned for it, if one
// was.
func (f *inflight) add(nc net.Conn) (abandoned net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.conns) >= f.limit {
		abandoned = f.conns[0]
		f.conns = f.conns[1:]
	}
	f.conns = append(f.conns, nc)
	return abandoned
}

// done forgets nc: its handshake has ended.
func (f *inflight) done(nc net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.conns {
		if c == nc {
			f.conns = append(f.conns[:i], f.conns[i+1:]...)
			return
		}
	}
}
