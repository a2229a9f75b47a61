package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
	"time"
)

// On a connection that serves nothing — a client's — the caller waiting
// for a reply reads the socket itself when no one else is reading: the
// reply wakes the caller straight from the network, as a plain blocking
// read would, instead of waking a reader goroutine that then wakes the
// caller. That second wake-up, on an otherwise idle machine, is a sleeping
// thread woken on another CPU: most of a round trip.
//
// Reading is a role. The reader goroutine has it to begin with; it lets it
// go once it has answered the last call outstanding (with no stream open),
// and a caller takes it when it finds it free. A caller that has its
// reply lets it go again: to the reader goroutine if other calls or
// streams are outstanding, else free. A role left free for a tick or two
// of the watchdog goes back to the reader goroutine, so frames the peer
// sends unasked (a heartbeat, a close) wait that long at most. A caller
// reads only frames that fit the read buffer, in place, and stops at the
// end of its context (the read is interrupted with a past deadline) or at
// an error, which it hands to the reader goroutine to finish up with.

// The holders of the read role.
const (
	roleReader = 0 // the reader goroutine
	roleCaller = 1 // a caller waiting for its reply
	roleFree   = 2 // no one: the next caller takes it
)

var (
	errReleased = errors.New("rpc: reading let go")
	errLarge    = errors.New("rpc: a frame for the reader goroutine")
)

// readRole is the read role of a connection on which callers read.
type readRole struct {
	ok    bool          // callers may read: a socket, and nothing served
	state atomic.Uint64 // count<<2 | holder; the count moves when the role is let go free
	seen  uint64        // the state the watchdog saw at its last tick (its own)
	ch    chan error    // capacity 1: gives the role to the reader goroutine (nil), or the error to finish with

	// Under Conn.mu: the call whose caller reads, and whether its context
	// ended and interrupted the read.
	readingFor  *call
	interrupted bool
}

// takeRole takes the read role if it is free.
func (c *Conn) takeRole() bool {
	st := c.role.state.Load()
	return st&3 == roleFree && c.role.state.CompareAndSwap(st, st&^3|roleCaller)
}

// readFor reads frames as cl's caller, who holds the read role, until cl
// is answered, ctx ends, a frame is too large to read in place, or the
// connection fails; then it lets the role go.
func (c *Conn) readFor(ctx context.Context, cl *call) {
	// Only a context that can end can interrupt the read: the rest goes
	// without the lock.
	var stop func() bool
	if ctx.Done() != nil {
		c.mu.Lock()
		c.role.readingFor = cl
		c.mu.Unlock()
		stop = context.AfterFunc(ctx, func() { c.interrupt(cl) })
	}
	var err error
	for len(cl.done) == 0 || c.frameBuffered() {
		if err = c.readFrame(true); err != nil {
			break
		}
	}
	interrupted := false
	if stop != nil {
		stop()
		c.mu.Lock()
		c.role.readingFor = nil
		interrupted, c.role.interrupted = c.role.interrupted, false
		c.mu.Unlock()
		if interrupted {
			c.nc.SetReadDeadline(time.Time{})
		}
	}
	if err == errLarge || interrupted && errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	c.letGo(err, true)
}

// frameBuffered reports whether a whole frame is in the read buffer: a
// caller with its reply handles what came with it before it lets reading
// go.
func (c *Conn) frameBuffered() bool {
	hdr, err := c.br.Peek(min(headerLen, c.br.Buffered()))
	if err != nil || len(hdr) < headerLen {
		return false
	}
	n := int(binary.BigEndian.Uint32(hdr))
	return c.br.Buffered() >= headerLen+n
}

// interrupt ends cl's caller's read, if it still reads.
func (c *Conn) interrupt(cl *call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.role.readingFor == cl && !c.role.interrupted {
		c.role.interrupted = true
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// letGo lets the read role go, from its holder: with err, to the reader
// goroutine to finish up with; else to the reader goroutine if calls or
// streams are outstanding, or free. A caller holding it (caller) always
// lets it go; the reader goroutine only when it has nothing outstanding,
// and then reports true.
func (c *Conn) letGo(err error, caller bool) bool {
	st := c.role.state.Load()
	if err == nil {
		c.mu.Lock()
		free := len(c.calls) == 0 && len(c.streams) == 0 && c.closed == nil
		if free {
			c.role.state.Store((st>>2+1)<<2 | roleFree)
		}
		c.mu.Unlock()
		if free {
			dog.busy()
			return true
		}
		if !caller {
			return false
		}
	}
	c.role.state.Store(st&^3 | roleReader)
	c.role.ch <- err
	return true
}

// reclaim gives the role to the reader goroutine if it is free: frames
// that come unasked are about to, or may, arrive.
func (c *Conn) reclaim() { c.reclaimFrom(c.role.state.Load()) }

// reclaimFrom is reclaim if the role is still in state st, free (the
// watchdog's way: st is what it saw two ticks running).
func (c *Conn) reclaimFrom(st uint64) {
	if st&3 == roleFree && c.role.state.CompareAndSwap(st, st&^3|roleReader) {
		c.role.ch <- nil
	}
}
