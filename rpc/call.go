package rpc

import (
	"context"
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
	trailer Metadata      // the trailer that came before the reply, if any
	err     error
	ran     bool          // with err: the call may have run at the peer
	at      time.Duration // when the reply arrived, for the stats

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
	cl.err, cl.trailer = nil, nil
	c.mu.Lock()
	cl.abandoned = false
	if len(c.freeCalls) < maxFreeCalls {
		c.freeCalls = append(c.freeCalls, cl)
	}
	c.mu.Unlock()
}

// finish hands the reply (or err) to the waiting caller.
func (cl *call) finish(payload []byte, err error, ran bool) {
	cl.payload = append(cl.payload[:0], payload...)
	cl.err, cl.ran = err, ran
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

// method looks up info in the peer's menu.
func (c *Conn) method(info *MethodInfo) (uint64, error) {
	key := methodKey{info.Name, info.Version}
	idx, ok := c.peerMenu[key]
	if !ok {
		if vs := c.PeerVersions(key.name); len(vs) > 0 {
			return 0, fmt.Errorf("%w: the peer implements %s in versions %v", ErrUnknownMethod, key.name, vs)
		}
		return 0, fmt.Errorf("%w: the peer does not implement %s", ErrUnknownMethod, key.name)
	}
	if kind := c.peer.Methods[idx].Kind; kind != info.Kind {
		return 0, fmt.Errorf("%w: the peer's %v is a %s, not a %s", ErrUnknownMethod, key, kind, info.Kind)
	}
	return idx, nil
}

// invoke makes a call or sends a one-way message on c, through c's client
// interceptors.
func (c *Conn) invoke(ctx context.Context, info *MethodInfo, req, resp any) error {
	return c.invoker(ctx, info, req, resp)
}

// invokeOnce makes a call (or sends a one-way message, when resp is nil)
// on this connection: one attempt, reported to the stats handler.
func (c *Conn) invokeOnce(ctx context.Context, info *MethodInfo, req, resp any) error {
	ctx, stats := c.beginCall(ctx, info, true, -1)
	var (
		reqBytes, respBytes int
		ran                 bool
		err                 error
		at                  = time.Duration(-1) // when the reply arrived
	)
	if resp == nil {
		reqBytes, err = c.sendOneWay(ctx, info, req)
		ran = err == nil
	} else {
		var cl *call
		cl, reqBytes, ran, err = c.call(ctx, info, req)
		if err == nil {
			respBytes, at = len(cl.payload), cl.at
			if err = decodePayload(cl.payload, resp); err != nil {
				err = fmt.Errorf("%w: bad response: %w", ErrProtocol, err)
			}
			if dst, ok := ctx.Value(trailerDstKey{}).(*Metadata); ok {
				*dst = cl.trailer
			}
			c.recycle(cl)
		}
	}
	if err != nil {
		err = newError(c.desc, info, err, ran)
	}
	stats.end(ctx, c, at, reqBytes, respBytes, err)
	return err
}

// admit lets a call or a stream of size request bytes start: it takes its
// share of the peer's quota (waiting, within ctx, for room), and counts it
// among the openings being sent (see sent). It returns with c.mu held,
// unless it fails: then nothing is held or taken.
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
	c.sending++
	return nil
}

// sent marks an opening admitted by admit as queued (or given up). Once
// the connection is closing and nothing is being sent, the peer is told
// that no more calls or streams will come (see drained).
func (c *Conn) sent() {
	c.mu.Lock()
	c.sending--
	c.maybeDrainedLocked()
	c.mu.Unlock()
}

// opening encodes the frame that opens a call or a stream of method info:
// its id, the method's index in the peer's menu, the timeout that ctx
// leaves, the headers ctx carries (protocol 2), and the request. It returns
// the frame (the caller frees it) and the request's size, headers
// included, which counts against the peer's quota.
func (c *Conn) opening(ctx context.Context, k kind, info *MethodInfo, req any) (f *frame, id uint64, size int, err error) {
	idx, err := c.method(info)
	if err != nil {
		return nil, 0, 0, err
	}
	timeout, err := c.timeout(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	md := c.outgoing(ctx)
	if md != nil {
		switch k {
		case kindCall:
			k = kindCallMD
		case kindStreamOpen:
			k = kindStreamOpenMD
		}
	}
	id = c.nextID.Add(1)
	f = newFrame(k)
	f.uint(id)
	f.uint(idx)
	f.uint(timeout)
	start := len(f.b)
	if md != nil {
		if f.b, err = appendMetadata(f.b, md); err != nil {
			f.free()
			return nil, 0, 0, err
		}
	}
	if err := f.payload(req); err != nil {
		f.free()
		return nil, 0, 0, err
	}
	return f, id, len(f.b) - start, nil
}

// outgoing returns the headers to send with a call made with ctx: none to
// a peer that speaks only protocol 1.
func (c *Conn) outgoing(ctx context.Context) Metadata {
	if c.peer.Protocol < 2 {
		return nil
	}
	return OutgoingHeaders(ctx)
}

// call makes a call: it sends the request and waits for the reply's
// payload. recycle must be called with the call once the payload has been
// used. It returns the request's size, and with an error whether the call
// may have run.
func (c *Conn) call(ctx context.Context, info *MethodInfo, req any) (cl *call, size int, ran bool, err error) {
	cl, err = c.start(ctx, info, req)
	if err != nil {
		return nil, 0, false, err
	}
	id, size := cl.id, cl.size
	if c.role.ok && c.takeRole() {
		c.readFor(ctx, cl)
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		c.mu.Lock()
		_, waiting := c.calls[id]
		if waiting { // else shutdown or the reply has it, and reads abandoned
			cl.abandoned = true
		}
		c.mu.Unlock()
		if waiting {
			// The peer's answer ends the call; until then it holds its
			// share of the quota, as the peer's handler holds the request.
			c.sendCancel(id)
			return nil, size, true, ctx.Err()
		}
		<-cl.done // the reply beat the cancellation
	}
	if cl.err != nil {
		err, ran := cl.err, cl.ran
		c.recycle(cl)
		return nil, size, ran, err
	}
	return cl, size, true, nil
}

// start sends a call's request, once the peer's quota has room for it, and
// returns the call, registered to receive the reply.
func (c *Conn) start(ctx context.Context, info *MethodInfo, req any) (*call, error) {
	f, id, size, err := c.opening(ctx, kindCall, info, req)
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
	alone := len(c.calls) == 0
	c.calls[id] = cl
	c.inflight++
	c.mu.Unlock()

	if alone {
		// The only call in flight: its request goes out at once, from
		// here. Calls that overlap go through the writer, which batches.
		err = c.w.WriteHere(ctx, b)
	} else {
		err = c.w.Write(ctx, b)
	}
	c.sent()
	if err != nil {
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
// or ends it if its caller gave up. With an error, ran says whether the
// call may have run.
func (c *Conn) finishCall(id uint64, payload []byte, err error, ran bool) {
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
		cl.at = c.stamp
		cl.finish(payload, err, ran)
		c.answered = true
	}
}

// sendOneWay sends a one-way message and returns its size.
func (c *Conn) sendOneWay(ctx context.Context, info *MethodInfo, msg any) (int, error) {
	idx, err := c.method(info)
	if err != nil {
		return 0, err
	}
	if err := c.closedErr(); err != nil {
		return 0, err
	}
	md := c.outgoing(ctx)
	k := kindOneWay
	if md != nil {
		k = kindOneWayMD
	}
	f := newFrame(k)
	defer f.free()
	f.uint(idx)
	start := len(f.b)
	if md != nil {
		if f.b, err = appendMetadata(f.b, md); err != nil {
			return 0, err
		}
	}
	if err := f.payload(msg); err != nil {
		return 0, err
	}
	size := len(f.b) - start
	b, err := f.finish(c.peerMax)
	if err != nil {
		return 0, err
	}
	return size, c.w.Write(ctx, b)
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
