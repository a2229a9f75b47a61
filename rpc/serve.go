package rpc

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tetherkit/tether/internal/mp"
)

// served is a call or stream the peer made that we are serving.
type served struct {
	ctx    callCtx
	stream *serverStream // nil for a call
	size   int           // its request's bytes, counted in Conn.held
	charge int           // what it took from the server's bound on bytes
	at     time.Duration // when it arrived, for the stats

	// payload is the request, owned until the handler has decoded it:
	// then it is let go at once, as the handler keeps the decoded value.
	payload []byte
}

// job is work for a handler worker: a call or stream to serve.
type job struct {
	h   *handler
	idx uint64 // h's index in the menu
	id  uint64
	s   *served
}

var payloadPool = sync.Pool{New: func() any { return new([]byte) }}

// ownPayload copies a payload out of the read buffer for a job.
func ownPayload(p []byte) []byte {
	bp := payloadPool.Get().(*[]byte)
	return append((*bp)[:0], p...)
}

func freePayload(p []byte) {
	if p != nil && cap(p) <= 64<<10 {
		putPayload(p)
	}
}

// putPayload is apart so that a nil payload costs freePayload no
// allocation: &p moves p to the heap.
//
//go:noinline
func putPayload(p []byte) { payloadPool.Put(&p) }

// handlerAt returns our method idx if it is of kind want.
func (c *Conn) handlerAt(idx uint64, want handlerKind) *handler {
	if idx >= uint64(len(c.menu)) || c.menu[idx].kind != want {
		return nil
	}
	return c.menu[idx]
}

// serveCall starts serving call id: a worker runs the handler.
func (c *Conn) serveCall(id, idx, timeout uint64, md Metadata, payload []byte) {
	h := c.handlerAt(idx, unaryHandler)
	if h == nil {
		c.replyError(id, false, codeUnknownMethod, fmt.Sprintf("no method #%d", idx), 0, 0, 0)
		return
	}
	s, only, ok := c.startServing(id, timeout, nil, md, payload)
	if !ok {
		return
	}
	j := job{h: h, idx: idx, id: id, s: s}
	if c.alone && c.inline.ok && only && h.mayRunInline() {
		c.inline.job, c.inline.has = j, true // run once its frame is consumed
		return
	}
	c.workers.run(j)
}

// startServing registers call or stream id with its context, and the
// request's payload for the handler to own. It refuses (with an error
// reply, and nothing held) when the connection is closing, or when serving
// it would pass our limits: MaxConcurrentHandlers and MaxRequestBytes on
// this connection, MaxServerBytes across the server. only reports that
// nothing else is being served.
func (c *Conn) startServing(id, timeout uint64, st *serverStream, md Metadata, payload []byte) (s *served, only, ok bool) {
	size := len(payload)
	c.mu.Lock()
	var refuse error
	switch {
	case c.closingErrLocked() != nil:
		refuse = &refusal{code: codeClosing, msg: "the connection is closing"}
	case len(c.served) >= c.cfg.MaxConcurrentHandlers:
		refuse = resourceExhausted("more than %d concurrent calls", c.cfg.MaxConcurrentHandlers)
	case c.held > 0 && c.held+size > c.cfg.MaxRequestBytes:
		refuse = resourceExhausted("requests of more than %d bytes held at once", c.cfg.MaxRequestBytes)
	}
	s = &served{stream: st, size: size, at: c.stamp}
	s.ctx.peer, s.ctx.header = &c.peer, md
	if refuse == nil {
		// A large frame has taken its bytes from the server's bound as it
		// was read: the handler takes them over, with the frame itself.
		if s.charge = c.frameCharge; s.charge > 0 {
			c.frameCharge = 0
		} else if c.shared.take(size) {
			s.charge = size
			payload = ownPayload(payload)
		} else {
			refuse = resourceExhausted("the server holds as many bytes as it may")
		}
	}
	if refuse != nil {
		c.mu.Unlock()
		c.replyFailure(id, st != nil, refuse)
		return nil, false, false
	}
	s.payload = payload
	c.held += size
	c.served[id] = s
	c.inflight++
	only = len(c.served) == 1
	c.mu.Unlock()
	if timeout > 0 {
		// The deadline travels as a duration and runs on our clock.
		s.ctx.setTimeout(c.cfg.Clock, time.Duration(timeout)*time.Microsecond)
	}
	return s, only, true
}

// unserve forgets call or stream id once its handler has returned, and
// gives back what its request held — before the answer is queued, so that
// a peer that learns the call is over can count on its room.
func (c *Conn) unserve(id uint64, s *served) {
	c.mu.Lock()
	delete(c.served, id)
	c.held -= s.size
	c.mu.Unlock()
	c.shared.give(s.charge)
	s.ctx.cancel(context.Canceled)
}

// cancelServed cancels the handler of call or stream id, if it runs.
func (c *Conn) cancelServed(id uint64, cause error) {
	c.mu.Lock()
	s := c.served[id]
	c.mu.Unlock()
	if s != nil {
		s.ctx.cancel(cause)
	}
}

// runJob serves a call or stream on a worker goroutine, or a call on the
// reader (inline), whose reply then goes out from here if it can.
func (c *Conn) runJob(j job, inline bool) {
	defer c.addInflight(-1) // after the answer is queued: a graceful close waits for it
	if j.s.stream != nil {
		c.runStream(j)
		return
	}
	ctx, stats := c.beginCall(&j.s.ctx, &j.h.info, false, j.s.at)
	f := newFrame(kindReply)
	defer f.free()
	f.uint(j.id)
	start := len(f.b)
	err := c.runUnary(ctx, j, f)
	freePayload(j.s.payload) // if it failed before decoding
	c.unserve(j.id, j.s)
	var b []byte
	if err == nil {
		if b, err = f.finish(c.peerMax); err != nil {
			err.(*TooLargeError).response = true
		}
	}
	respBytes := 0
	if err == nil {
		respBytes = len(f.b) - start
		err = c.sendTrailer(j.id, &j.s.ctx)
	}
	stats.end(ctx, c, -1, j.s.size, respBytes, err)
	if err != nil {
		c.replyFailure(j.id, false, err)
		return
	}
	if inline {
		err = c.w.WriteHere(c.ctx, b)
	} else {
		err = c.w.Write(c.ctx, b)
	}
	if err != nil {
		c.log.Debug("reply not sent", "method", j.h.key().String(), "err", err)
	}
}

// runUnary decodes a call's request and runs its handler, through the
// interceptors, turning a panic into a *RemoteError.
func (c *Conn) runUnary(ctx context.Context, j job, f *frame) (err error) {
	defer c.recoverHandler(j.h, &err)
	req, err := j.h.decode(j.s.payload)
	// The request's bytes go at once: the handler keeps the decoded value.
	freePayload(j.s.payload)
	j.s.payload = nil
	if err != nil {
		return err
	}
	resp, err := c.unaries[j.idx](ctx, req)
	if err != nil {
		return err
	}
	return f.payload(resp)
}

// sendTrailer queues the trailer of call or stream id, if its handler set
// one and the peer takes them, before its answer. A trailer too large
// fails the call.
func (c *Conn) sendTrailer(id uint64, ctx *callCtx) error {
	md := ctx.takeTrailer()
	if md == nil || c.peer.Protocol < 2 {
		return nil
	}
	f := newFrame(kindTrailer)
	defer f.free()
	f.uint(id)
	var err error
	if f.b, err = appendMetadata(f.b, md); err != nil {
		return err
	}
	b, err := f.finish(c.peerMax)
	if err != nil {
		return err
	}
	return c.w.Write(c.ctx, b)
}

// recoverHandler, deferred, turns a handler's panic into *err, a
// *RemoteError with Panic set, and logs it.
func (c *Conn) recoverHandler(h *handler, err *error) {
	if r := recover(); r != nil {
		c.log.Error("handler panicked", "method", h.key().String(), "panic", r, "stack", string(debug.Stack()))
		*err = &RemoteError{Message: fmt.Sprint(r), Panic: true}
	}
}

// protect runs a handler, turning a panic into a *RemoteError{Panic: true}.
func (c *Conn) protect(h *handler, f func() error) (err error) {
	defer c.recoverHandler(h, &err)
	return f()
}

// replyFailure sends the error frame for a failed call or stream.
func (c *Conn) replyFailure(id uint64, stream bool, err error) {
	code, msg, size, max, class := c.failureCode(err)
	c.replyError(id, stream, code, msg, size, max, class)
}

// failureCode maps a handler's failure to the wire.
func (c *Conn) failureCode(err error) (code uint64, msg string, size, max int, class Class) {
	switch e := err.(type) {
	case *RemoteError:
		if e.Panic {
			return codePanic, e.Message, 0, 0, 0
		}
	case *TooLargeError:
		if e.response && c.peer.Protocol >= 2 {
			return codeResponseTooLarge, e.Error(), e.Size, e.Max, 0
		}
		return codeTooLarge, e.Error(), e.Size, e.Max, 0
	case *badRequest:
		return codeBadRequest, e.Error(), 0, 0, 0
	case *refusal:
		return e.code, e.msg, 0, 0, 0
	}
	if err == context.Canceled || err == context.DeadlineExceeded {
		return codeCanceled, err.Error(), 0, 0, 0
	}
	return codeApplication, err.Error(), 0, 0, handlerClass(err)
}

// replyError sends an error frame for call id, or the end of stream id.
// class goes with codeApplication, to a peer of protocol 2.
func (c *Conn) replyError(id uint64, stream bool, code uint64, msg string, size, max int, class Class) {
	k := kindError
	if stream {
		k = kindStreamEndBk
	}
	if len(msg) > 4096 {
		msg = msg[:4096] + "…"
	}
	if c.peer.Protocol < 2 && code > codeResourceExhausted {
		code = codeTooLarge // codeResponseTooLarge, as protocol 1 knew it
	}
	c.w.Append(func(b []byte) ([]byte, error) {
		start := len(b)
		b = append(b, 0, 0, 0, 0, byte(k))
		b = mp.AppendUint(b, id)
		b = mp.AppendUint(b, code)
		b = mp.AppendStr(b, msg)
		if code == codeTooLarge || code == codeResponseTooLarge {
			b = mp.AppendUint(mp.AppendUint(b, uint64(size)), uint64(max))
		}
		if code == codeApplication && class != Unknown && c.peer.Protocol >= 2 {
			b = mp.AppendUint(b, uint64(class))
		}
		putLen(b[start:])
		return b, nil
	})
}

// badRequest is a request that could not be decoded.
type badRequest struct{ err error }

func (e *badRequest) Error() string { return "bad request: " + e.err.Error() }

// serveOneWay runs a one-way handler on the reader goroutine, so that
// messages are handled in the order sent. A failure is logged.
func (c *Conn) serveOneWay(idx uint64, md Metadata, payload []byte) {
	h := c.handlerAt(idx, oneWayHandler)
	if h == nil {
		c.log.Warn("one-way message for an unknown method", "index", idx)
		return
	}
	ctx := c.ctx
	if md != nil {
		ctx = context.WithValue(ctx, incomingKey{}, md)
	}
	ctx, stats := c.beginCall(ctx, &h.info, false, c.stamp)
	err := c.protect(h, func() error {
		msg, err := h.decode(payload)
		if err != nil {
			return err
		}
		_, err = c.unaries[idx](ctx, msg)
		return err
	})
	stats.end(ctx, c, -1, len(payload), 0, err)
	if err != nil {
		c.log.Warn("one-way handler failed", "method", h.key().String(), "err", err)
	}
}

// workerPool runs jobs on worker goroutines, reusing idle ones (the most
// recently idle first, whose stack is warm). It never blocks: the number of
// jobs is bounded by the limit on concurrent handlers the peer respects.
type workerPool struct {
	c *Conn

	mu      sync.Mutex
	idle    []chan job
	stopped bool
}

func (p *workerPool) run(j job) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w <- j // buffered: never blocks
		return
	}
	p.mu.Unlock()
	w := make(chan job, 1)
	go p.work(w, j)
}

func (p *workerPool) work(w chan job, j job) {
	for {
		p.c.runJob(j, false)
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		var ok bool
		if j, ok = <-w; !ok {
			return
		}
	}
}

// stop ends the idle workers; busy ones end after their job.
func (p *workerPool) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	for _, w := range p.idle {
		close(w)
	}
	p.idle = nil
}
