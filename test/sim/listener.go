package sim

import "net"

// listener is a port listened on; it implements net.Listener.
type listener struct {
	h    *Host
	addr Addr

	// Guarded by n.mu.
	backlog []*endpoint // connections not yet accepted
	closed  bool
	crashed bool          // its host crashed: Accept waits until Close
	sig     chan struct{} // closed on any change, when someone waits
}

// notify wakes every goroutine in Accept, unless the host crashed. n.mu is
// held.
func (l *listener) notify() {
	if l.sig != nil && (!l.crashed || l.closed) {
		l.h.n.release(l.sig)
		l.sig = nil
	}
}

// Accept waits for the next connection and returns it. After Close it
// returns an error wrapping net.ErrClosed. On a crashed host it waits until
// Close.
func (l *listener) Accept() (net.Conn, error) {
	n := l.h.n
	for {
		n.mu.Lock()
		if l.closed {
			n.mu.Unlock()
			return nil, opError("accept", nil, l.addr, net.ErrClosed)
		}
		if len(l.backlog) > 0 && !l.crashed {
			e := l.backlog[0]
			l.backlog[0] = nil
			l.backlog = l.backlog[1:]
			n.mu.Unlock()
			return e, nil
		}
		if l.sig == nil {
			l.sig = make(chan struct{})
		}
		ch := l.sig
		n.mu.Unlock()
		<-ch
	}
}

// Close stops listening: the port is free again, blocked and later Accepts
// fail, and connections not yet accepted are reset (their dialers get an
// RST). A second Close returns an error wrapping net.ErrClosed.
func (l *listener) Close() error {
	n := l.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.closed {
		return opError("close", nil, l.addr, net.ErrClosed)
	}
	l.closeLocked()
	return nil
}

// closeLocked closes l. n.mu is held.
func (l *listener) closeLocked() {
	if l.closed {
		return
	}
	l.closed = true
	l.unlistLocked()
	l.notify()
}

// crashLocked stops l as its host crashes: the connections not yet
// accepted are reset, and Accept waits until Close. n.mu is held.
func (l *listener) crashLocked() {
	l.crashed = true
	l.resetBacklogLocked()
}

// unlistLocked frees l's port and resets the connections not yet
// accepted. n.mu is held.
func (l *listener) unlistLocked() {
	if l.h.listeners[l.addr.Port] == l {
		delete(l.h.listeners, l.addr.Port)
	}
	l.resetBacklogLocked()
}

func (l *listener) resetBacklogLocked() {
	for _, e := range l.backlog {
		e.closed = true
		l.h.n.sendRST(e)
		l.h.n.forgetIfDone(e.c)
	}
	l.backlog = nil
}

// Addr returns the address listened on, an Addr.
func (l *listener) Addr() net.Addr { return l.addr }
