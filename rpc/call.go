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
	done    chan struct{} // capacity 1: signalled once per use
	payload []byte        // the reply's payload, copied from the frame
	err     error
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

// acquire takes a slot for a call or stream the peer will serve, waiting
// while the peer's limit on concurrent handlers is reached.
func (c *Conn) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.closedErr()
	}
}

func (c *Conn) release() { <-c.slots }

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

// admit starts a call or a stream of method key (of kind want): it finds
// the method in the peer's menu, the timeout that ctx leaves, and takes a
// slot among the calls in flight (waiting, within ctx, for one). It
// returns with c.mu held, unless it fails: then nothing is held or taken.
func (c *Conn) admit(ctx context.Context, key methodKey, want handlerKind) (idx, timeout uint64, err error) {
	if idx, err = c.method(key, want); err != nil {
		return 0, 0, err
	}
	if timeout, err = c.timeout(ctx); err != nil {
		return 0, 0, err
	}
	if err := c.acquire(ctx); err != nil {
		return 0, 0, err
	}
	c.mu.Lock()
	if err := c.closingErrLocked(); err != nil {
		c.mu.Unlock()
		c.release()
		return 0, 0, err
	}
	return idx, timeout, nil
}

// call makes a call: it sends the request and waits for the reply's payload.
// release must be called with the call once the payload has been used.
func (c *Conn) call(ctx context.Context, key methodKey, req any) (*call, error) {
	idx, timeout, err := c.admit(ctx, key, unaryHandler)
	if err != nil {
		return nil, err
	}
	cl := c.newCallLocked()
	c.nextID++
	cl.id = c.nextID
	c.calls[cl.id] = cl
	c.inflight++
	c.mu.Unlock()

	if err := c.sendOpening(ctx, kindCall, cl.id, idx, timeout, req); err != nil {
		c.forget(cl)
		return nil, err
	}

	select {
	case <-cl.done:
	case <-ctx.Done():
		// The id is read before forget: forget frees cl, and another call
		// may take it at once and change its id.
		id := cl.id
		if c.forget(cl) {
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

// forget removes a call that has not been answered, and reports whether it
// was still waiting (false: a reply or the close is being handed over).
func (c *Conn) forget(cl *call) bool {
	c.mu.Lock()
	_, waiting := c.calls[cl.id]
	if waiting {
		delete(c.calls, cl.id)
	}
	c.mu.Unlock()
	if waiting {
		c.done1()
		c.freeCall(cl)
	}
	return waiting
}

// recycle returns an answered call to the free list.
func (c *Conn) recycle(cl *call) {
	c.done1()
	c.freeCall(cl)
}

// done1 marks one of our calls or streams over.
func (c *Conn) done1() {
	c.release()
	c.addInflight(-1)
}

// finishCall hands a reply or an error to call id, if it is still waiting.
func (c *Conn) finishCall(id uint64, payload []byte, err error) {
	c.mu.Lock()
	cl := c.calls[id]
	delete(c.calls, id)
	c.mu.Unlock()
	if cl != nil {
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
