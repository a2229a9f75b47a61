package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherkit/tether/internal/mp"
)

// call is one of our calls awaiting its reply.
type call struct {
	id      uint64
	size    int           // its request's bytes, counted in the peer's quota
	done    chan struct{} // capacity 1: signalled once per use
	payload []byte        // the reply's payload, copied from the frame
	err     error

	// abandoned is set (under Conn.mu) when the caller gave up: the call
	// stays registered, holding its share of the quota, until the peer
	// answers, and the answer only ends it.
	abandoned bool
}

// Calls are reused through a free list per connection, not a sync.Pool:
// a call holds a channel, and a channel must stay with the connection that
// made it (a testing/synctest bubble, for one, forbids sharing it).
const maxFreeCalls = 256

// newCallLocked returns a call from the free list, or a new one. c.mu is
// held.
func (c *Conn) newCallLocked() *call {
	if n := len(c.freeCalls); n > 0 {
		cl := c.freeCalls[n-1]
		c.freeCalls = c.freeCalls[:n-1]
		return cl
	}
	return &call{done: make(chan struct{}, 1)}
}

// freeCall returns cl, answered or forgotten, to the free list.
func (c *Conn) freeCall(cl *call) {
	if cap(cl.payload) > 64<<10 {
		cl.payload = nil
	}
	cl.err = nil
	c.mu.Lock()
	cl.abandoned = false
	if len(c.freeCalls) < maxFreeCalls {
		c.freeCalls = append(c.freeCalls, cl)
	}
	c.mu.Unlock()
}

// finish hands the reply (or err) to the waiting caller.
func (cl *call) finish(payload []byte, err error) {
	cl.payload = append(cl.payload[:0], payload...)
	cl.err = err
	cl.done <- struct{}{}
}

// closedErr is the error for work refused because the connection is closing
// or closed. c.mu must not be held.
func (c *Conn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closingErrLocked()
}

func (c *Conn) closingErrLocked() error {
	if c.closed != nil {
		return c.closed
	}
	if c.closing != nil {
		return c.closing
	}
	return nil
}

// timeout returns what remains of ctx's deadline, in microseconds for the
// wire (0: no deadline), or ctx's error if it has already passed.
func (c *Conn) timeout(ctx context.Context) (uint64, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return 0, ctx.Err()
	}
	left := d.Sub(c.cfg.Clock.Now())
	if left <= 0 {
		return 0, context.DeadlineExceeded
	}
	return uint64(max(left/time.Microsecond, 1)), nil
}

// method looks up key in the peer's menu.
func (c *Conn) method(key methodKey, want handlerKind) (uint64, error) {
	idx, ok := c.peerMenu[key]
	if !ok {
		if vs := c.PeerVersions(key.name); len(vs) > 0 {
			return 0, fmt.Errorf("%w: the peer implements %s in versions %v", ErrUnknownMethod, key.name, vs)
		}
		return 0, fmt.Errorf("%w: the peer does not implement %s", ErrUnknownMethod, key.name)
	}
	if kind := c.peer.Methods[idx].Kind; kind != handlerKindNames[want] {
		return 0, fmt.Errorf("%w: the peer's %v is a %s, not a %s", ErrUnknownMethod, key, kind, handlerKindNames[want])
	}
	return idx, nil
}

// admit lets a call or a stream of size request bytes start: it takes its
// share of the peer's quota (waiting, within ctx, for room). It returns
// with c.mu held, unless it fails: then nothing is held or taken.
func (c *Conn) admit(ctx context.Context, size int) error {
	if err := c.quota.acquire(ctx, size, c.done); err != nil {
		if err == errDone {
			return c.closedErr()
		}
		return err
	}
	c.mu.Lock()
	if err := c.closingErrLocked(); err != nil {
		c.mu.Unlock()
		c.quota.release(size)
		return err
	}
	return nil
}

// opening encodes the frame that opens a call or a stream of method key
// (of kind want): its id, the method's index in the peer's menu, the
// timeout that ctx leaves, and the request. It returns the frame (the
// caller frees it) and the request's size, which counts against the peer's
// quota.
func (c *Conn) opening(ctx context.Context, k kind, key methodKey, want handlerKind, req any) (f *frame, id uint64, size int, err error) {
	idx, err := c.method(key, want)
	if err != nil {
		return nil, 0, 0, err
	}
	timeout, err := c.timeout(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	id = c.nextID.Add(1)
	f = newFrame(k)
	f.uint(id)
	f.uint(idx)
	f.uint(timeout)
	start := len(f.b)
	if err := f.payload(req); err != nil {
		f.free()
		return nil, 0, 0, err
	}
	return f, id, len(f.b) - start, nil
}

// call makes a call: it sends the request and waits for the reply's payload.
// recycle must be called with the call once the payload has been used.
func (c *Conn) call(ctx context.Context, key methodKey, req any) (*call, error) {
	cl, err := c.start(ctx, req, key)
	if err != nil {
		return nil, err
	}
	id := cl.id

	select {
	case <-cl.done:
	case <-ctx.Done():
		c.mu.Lock()
		_, waiting := c.calls[id]
		cl.abandoned = waiting
		c.mu.Unlock()
		if waiting {
			// The peer's answer ends the call; until then it holds its
			// share of the quota, as the peer's handler holds the request.
			c.sendCancel(id)
			return nil, ctx.Err()
		}
		<-cl.done // the reply beat the cancellation
	}
	if cl.err != nil {
		err := cl.err
		c.recycle(cl)
		return nil, err
	}
	return cl, nil
}

// start sends call's request, once the peer's quota has room for it, and
// returns the call, registered to receive the reply.
func (c *Conn) start(ctx context.Context, req any, key methodKey) (*call, error) {
	f, id, size, err := c.opening(ctx, kindCall, key, unaryHandler, req)
	if err != nil {
		return nil, err
	}
	defer f.free() // as soon as it is queued: the caller does not keep it while it waits
	b, err := f.finish(c.peerMax)
	if err != nil {
		return nil, err
	}
	if err := c.admit(ctx, size); err != nil {
		return nil, err
	}
	cl := c.newCallLocked()
	cl.id, cl.size = id, size
	c.calls[id] = cl
	c.inflight++
	c.mu.Unlock()

	if err := c.w.Write(ctx, b); err != nil {
		c.forget(cl) // not queued: the peer never sees it
		return nil, err
	}
	return cl, nil
}

// forget ends a call that was never sent.
func (c *Conn) forget(cl *call) {
	c.mu.Lock()
	_, waiting := c.calls[cl.id]
	delete(c.calls, cl.id)
	c.mu.Unlock()
	if !waiting {
		<-cl.done // the connection closed first, and shutdown finished it
	}
	c.recycle(cl)
}

// recycle ends a call: its share of the quota goes back, and the call to
// the free list.
func (c *Conn) recycle(cl *call) {
	c.done1(cl.size)
	c.freeCall(cl)
}

// done1 marks one of our calls or streams over, with its request's size.
func (c *Conn) done1(size int) {
	c.quota.release(size)
	c.addInflight(-1)
}

// finishCall hands a reply or an error to call id, if it is still waiting,
// or ends it if its caller gave up.
func (c *Conn) finishCall(id uint64, payload []byte, err error) {
	c.mu.Lock()
	cl := c.calls[id]
	delete(c.calls, id)
	abandoned := cl != nil && cl.abandoned
	c.mu.Unlock()
	switch {
	case cl == nil:
	case abandoned:
		c.recycle(cl)
	default:
		cl.finish(payload, err)
	}
}

// sendCancel tells the peer we gave up on call or stream id.
func (c *Conn) sendCancel(id uint64) {
	c.sendSmall(kindCancel, id)
}

// sendSmall queues a frame of kind k with unsigned fields. Such frames are
// tiny and never wait for room in the write queue, so that giving up on a
// call cannot block behind a stuck connection.
func (c *Conn) sendSmall(k kind, fields ...uint64) {
	c.w.Append(func(b []byte) ([]byte, error) {
		start := len(b)
		b = append(b, 0, 0, 0, 0, byte(k))
		for _, v := range fields {
			b = mp.AppendUint(b, v)
		}
		putLen(b[start:])
		return b, nil
	})
}

// callError wraps err, the failure of a call of key on c, with its context.
func callError(desc string, key methodKey, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Conn: desc, Method: key.name, Version: key.version, Err: err}
}
