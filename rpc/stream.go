package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/tetherkit/tether/internal/mp"
)

// flow is one end of a stream: the items received and not yet consumed,
// and the credit for sending. Flow control counts payload bytes, as
// HTTP/2's does: the receiver buffers at most window bytes and grants the
// sender credit as it consumes them, so a peer that sends without credit
// breaks the protocol. An item larger than the whole window may be sent
// when nothing is outstanding.
type flow struct {
	c       *Conn
	id      uint64
	window  int  // bytes we buffer at most
	peerWin int  // bytes the peer buffers at most: our full credit
	credK   kind // the kind of frame that grants the peer credit

	mu       sync.Mutex
	items    [][]byte
	buffered int   // bytes in items
	credit   int   // bytes we may still send; negative after an oversized item
	consumed int   // bytes consumed since credit was last granted
	ended    bool  // the peer sends no more items
	endErr   error // why, when not a clean end
	noSend   error // set when the peer takes no more items: sending fails with it
	gone     error // this end is finished: sending and receiving fail with it
	itemSig  chan struct{}
	credSig  chan struct{}

	sentBytes, recvBytes atomic.Int64 // payload bytes, for the stats
}

func newFlow(c *Conn, id uint64, credK kind) *flow {
	return &flow{
		c: c, id: id, window: c.cfg.StreamWindow, peerWin: c.window, credK: credK,
		credit:  c.window,
		itemSig: make(chan struct{}, 1),
		credSig: make(chan struct{}, 1),
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push adds an item that arrived; false means the peer exceeded its credit.
func (fl *flow) push(payload []byte) bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.ended || fl.gone != nil {
		return true // late: dropped
	}
	if fl.buffered > 0 && fl.buffered+len(payload) > fl.window {
		return false
	}
	fl.items = append(fl.items, ownPayload(payload))
	fl.buffered += len(payload)
	fl.recvBytes.Add(int64(len(payload)))
	signal(fl.itemSig)
	return true
}

// end records that the peer will send no more items (err nil: cleanly).
// If noSend is not nil, the peer takes no more items either.
func (fl *flow) end(err, noSend error) {
	fl.mu.Lock()
	if !fl.ended {
		fl.ended, fl.endErr = true, err
	}
	if fl.noSend == nil {
		fl.noSend = noSend
	}
	fl.mu.Unlock()
	signal(fl.itemSig)
	signal(fl.credSig)
}

// finish makes this end unusable with err, keeping nothing.
func (fl *flow) finish(err error) {
	fl.mu.Lock()
	if fl.gone == nil {
		fl.gone = err
		for _, p := range fl.items {
			freePayload(p)
		}
		fl.items, fl.buffered = nil, 0
	}
	fl.mu.Unlock()
	signal(fl.itemSig)
	signal(fl.credSig)
}

func (fl *flow) addCredit(n uint64) {
	fl.mu.Lock()
	fl.credit += int(min(n, 1<<30))
	fl.mu.Unlock()
	signal(fl.credSig)
}

// next waits for the next item and returns it (owned by the caller: free it
// with freePayload), or io.EOF after a clean end, or the error that ended
// the stream.
func (fl *flow) next(ctx context.Context) ([]byte, error) {
	for {
		fl.mu.Lock()
		if fl.gone != nil {
			err := fl.gone
			fl.mu.Unlock()
			return nil, err
		}
		if len(fl.items) > 0 {
			p := fl.items[0]
			fl.items[0] = nil
			fl.items = fl.items[1:]
			fl.buffered -= len(p)
			fl.consumed += len(p)
			var grant int
			if fl.consumed >= max(fl.window/4, 1) && !fl.ended {
				grant, fl.consumed = fl.consumed, 0
			}
			fl.mu.Unlock()
			if grant > 0 {
				fl.c.sendSmall(fl.credK, fl.id, uint64(grant))
			}
			return p, nil
		}
		if fl.ended {
			err := fl.endErr
			fl.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		fl.mu.Unlock()
		select {
		case <-fl.itemSig:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// take waits for credit to send an item of size bytes.
func (fl *flow) take(ctx context.Context, size int) error {
	for {
		fl.mu.Lock()
		switch {
		case fl.gone != nil:
			err := fl.gone
			fl.mu.Unlock()
			return err
		case fl.noSend != nil:
			err := fl.noSend
			fl.mu.Unlock()
			return err
		case fl.credit >= size || fl.credit >= fl.peerWin:
			fl.credit -= size
			fl.mu.Unlock()
			return nil
		}
		fl.mu.Unlock()
		select {
		case <-fl.credSig:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sendItem encodes v as an item of kind k on stream id and sends it once
// credit allows.
func (fl *flow) sendItem(ctx context.Context, k kind, v any) error {
	f := newFrame(k)
	defer f.free()
	f.uint(fl.id)
	start := len(f.b)
	if err := f.payload(v); err != nil {
		return err
	}
	size := len(f.b) - start
	b, err := f.finish(fl.c.peerMax)
	if err != nil {
		return err
	}
	if err := fl.take(ctx, size); err != nil {
		return err
	}
	if err := fl.c.w.Write(ctx, b); err != nil {
		return err
	}
	fl.sentBytes.Add(int64(size))
	return nil
}

// clientStream is a stream we opened: the ClientStreamer of a Conn.
type clientStream struct {
	*flow
	info     *MethodInfo
	ctx      context.Context // Open's, as TagCall returned it
	stats    callStats
	size     int         // its opening request's bytes, counted in the peer's quota
	stop     func() bool // stops watching ctx; guarded by mu
	once     sync.Once   // gives back the stream's share of the quota
	sendDone bool
	told     bool     // the peer was told we gave up; guarded by mu
	trailer  Metadata // guarded by mu
	lastErr  error    // how it ended, for the stats; guarded by mu
}

// serverStream is a stream the peer opened, which we serve: the
// ServerStreamer handlers get.
type serverStream struct {
	*flow
	ctx context.Context
}

// openStream opens a stream on c, through c's client stream interceptors.
func (c *Conn) openStream(ctx context.Context, info *MethodInfo, req any) (ClientStreamer, error) {
	return c.streamer(ctx, info, req)
}

// openStreamOnce opens a stream of method info with req as the opening
// request.
func (c *Conn) openStreamOnce(ctx context.Context, info *MethodInfo, req any) (ClientStreamer, error) {
	ctx, stats := c.beginCall(ctx, info, true, -1)
	st, err := c.open(ctx, info, req, stats)
	if err != nil {
		err = newError(c.desc, info, err, false)
		stats.end(ctx, c, -1, 0, 0, err)
		return nil, err
	}
	return st, nil
}

func (c *Conn) open(ctx context.Context, info *MethodInfo, req any, stats callStats) (*clientStream, error) {
	f, id, size, err := c.opening(ctx, kindStreamOpen, info, req)
	if err != nil {
		return nil, err
	}
	defer f.free()
	b, err := f.finish(c.peerMax)
	if err != nil {
		return nil, err
	}
	if err := c.admit(ctx, size); err != nil {
		return nil, err
	}
	st := &clientStream{flow: newFlow(c, id, kindStreamCredit), info: info, ctx: ctx, stats: stats, size: size}
	st.sentBytes.Store(int64(size))
	c.streams[id] = st
	c.inflight++
	c.mu.Unlock()
	if c.role.ok {
		c.reclaim() // the stream's frames come unasked: the reader goroutine reads them
	}

	err = c.w.Write(ctx, b)
	c.sent()
	if err != nil {
		st.stats = callStats{} // reported by the caller
		st.close(err, false)
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { st.close(ctx.Err(), true) })
	st.mu.Lock()
	st.stop = stop
	st.mu.Unlock()
	return st, nil
}

// Recv decodes the next item into item.
func (st *clientStream) Recv(item any) error {
	p, err := st.next(st.ctx)
	if err != nil {
		return st.wrap(err)
	}
	err = decodePayload(p, item)
	freePayload(p)
	if err != nil {
		return st.wrap(fmt.Errorf("%w: bad item: %w", ErrProtocol, err))
	}
	return nil
}

// Send sends a further request.
func (st *clientStream) Send(req any) error {
	if err := st.sendItem(st.ctx, kindStreamItem, req); err != nil {
		return st.wrap(err)
	}
	return nil
}

// CloseSend tells the handler no more requests will come.
func (st *clientStream) CloseSend() error {
	st.mu.Lock()
	already := st.sendDone
	st.sendDone = true
	st.noSend = errSendClosed
	st.mu.Unlock()
	if !already {
		st.c.sendSmall(kindStreamEnd, st.id)
	}
	return nil
}

var errSendClosed = fmt.Errorf("CloseSend was called")

// Close ends the stream.
func (st *clientStream) Close() { st.close(ErrClosed, true) }

// Trailer returns the handler's trailer, once the stream is over.
func (st *clientStream) Trailer() Metadata {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.trailer
}

func (st *clientStream) wrap(err error) error {
	if err == io.EOF {
		return err // bare, as readers compare it with ==
	}
	return newError(st.c.desc, st.info, err, true)
}

// unwatch stops watching the stream's context. The reader may end the
// stream before openStream has set stop: then there is nothing to stop
// yet, and the context's end finds the stream closed.
func (st *clientStream) unwatch() {
	st.mu.Lock()
	stop := st.stop
	st.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// close finishes the stream on our side with err. If tell, the peer is
// told we gave up, and the stream keeps its share of the quota until the
// peer's handler has returned and said so; else (the opening was never
// sent) it gives it back at once.
func (st *clientStream) close(err error, tell bool) {
	c := st.c
	c.mu.Lock()
	_, live := c.streams[st.id]
	if live && !tell {
		delete(c.streams, st.id)
	}
	c.mu.Unlock()
	st.mu.Lock()
	cancel := live && tell && !st.told
	st.told = st.told || cancel
	if st.lastErr == nil && err != ErrClosed {
		st.lastErr = err
	}
	st.mu.Unlock()
	if cancel {
		c.sendCancel(st.id)
	}
	st.finish(err)
	st.unwatch()
	if !live || !tell {
		st.release()
	}
}

// release gives back the stream's share of the quota, once, and reports
// its end.
func (st *clientStream) release() {
	st.once.Do(func() {
		st.c.done1(st.size)
		st.mu.Lock()
		err := st.lastErr
		st.mu.Unlock()
		if err != nil {
			err = st.wrap(err)
		}
		st.stats.end(st.ctx, st.c, -1, int(st.sentBytes.Load()), int(st.recvBytes.Load()), err)
	})
}

// Context returns the stream's context.
func (st *serverStream) Context() context.Context { return st.ctx }

// Send sends an item to the opener.
func (st *serverStream) Send(item any) error {
	return st.sendItem(st.ctx, kindStreamItemBk, item)
}

// Recv decodes the opener's next request into req.
func (st *serverStream) Recv(req any) error {
	p, err := st.next(st.ctx)
	if err != nil {
		return err
	}
	err = decodePayload(p, req)
	freePayload(p)
	if err != nil {
		return &badRequest{err}
	}
	return nil
}

// serveStream starts serving stream id: a worker runs the handler.
func (c *Conn) serveStream(id, idx, timeout uint64, md Metadata, payload []byte) {
	h := c.handlerAt(idx, streamHandler)
	if h == nil {
		c.replyError(id, true, codeUnknownMethod, "no stream method with that index", 0, 0, 0)
		return
	}
	st := &serverStream{flow: newFlow(c, id, kindStreamCredBk)}
	s, _, ok := c.startServing(id, timeout, st, md, payload)
	if !ok {
		return
	}
	st.ctx = &s.ctx
	c.workers.run(job{h: h, idx: idx, id: id, s: s})
}

// runStream serves a stream on a worker goroutine: the handler runs,
// through the interceptors, then the end (clean or with the handler's
// error) goes to the opener, after the trailer.
func (c *Conn) runStream(j job) {
	st := j.s.stream
	ctx, stats := c.beginCall(st.ctx, &j.h.info, false, j.s.at)
	st.ctx = ctx
	err := c.protect(j.h, func() error {
		req, err := j.h.decode(j.s.payload)
		freePayload(j.s.payload)
		j.s.payload = nil
		if err != nil {
			return err
		}
		return c.streamed[j.idx](ctx, req, st)
	})
	st.finish(ErrClosed)
	c.unserve(j.id, j.s)
	if err == nil {
		err = c.sendTrailer(j.id, &j.s.ctx)
	}
	stats.end(ctx, c, -1, j.s.size+int(st.recvBytes.Load()), int(st.sentBytes.Load()), err)
	if err != nil {
		c.replyFailure(j.id, true, err)
		return
	}
	c.w.Append(func(b []byte) ([]byte, error) {
		start := len(b)
		b = append(b, 0, 0, 0, 0, byte(kindStreamEndBk))
		b = mp.AppendUint(b, j.id)
		b = mp.AppendUint(b, codeOK)
		b = mp.AppendStr(b, "")
		putLen(b[start:])
		return b, nil
	})
}

// toServedStream routes a frame from the opener of a stream we serve.
func (c *Conn) toServedStream(k kind, id uint64, payload []byte, n uint64) error {
	c.mu.Lock()
	s := c.served[id]
	c.mu.Unlock()
	if s == nil || s.stream == nil {
		return nil // the handler has returned: late frames are dropped
	}
	switch k {
	case kindStreamItem:
		if !s.stream.push(payload) {
			return protocolError("stream %d: items beyond the window of %d bytes", id, c.cfg.StreamWindow)
		}
	case kindStreamEnd:
		s.stream.end(nil, nil)
	case kindStreamCredit:
		s.stream.addCredit(n)
	}
	return nil
}

// toClientStream routes a frame from the acceptor of a stream we opened.
func (c *Conn) toClientStream(k kind, id uint64, payload []byte, n, code uint64, msg string) error {
	c.mu.Lock()
	st := c.streams[id]
	c.mu.Unlock()
	if st == nil {
		return nil // closed on our side: late frames are dropped
	}
	switch k {
	case kindStreamItemBk:
		if !st.push(payload) {
			return protocolError("stream %d: items beyond the window of %d bytes", id, c.cfg.StreamWindow)
		}
	case kindStreamCredBk:
		st.addCredit(n)
	case kindStreamEndBk:
		var err error
		if code != codeOK {
			err, _ = c.remoteError(code, msg, 0, 0, 0)
		}
		st.over(err, errStreamOver)
	}
	return nil
}

// receiveTrailer keeps the trailer of call or stream id, which comes just
// before its answer.
func (c *Conn) receiveTrailer(id uint64, md Metadata) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.calls[id]; cl != nil {
		cl.trailer = md
	} else if st := c.streams[id]; st != nil {
		st.mu.Lock()
		st.trailer = md
		st.mu.Unlock()
	}
}

// errStreamOver is what sending on a stream fails with once its handler has
// returned.
var errStreamOver = errors.New("the stream is over: its handler has returned")

// over ends the stream on the wire: no more items either way. What was
// received can still be read, then err (nil: io.EOF). It releases the
// stream's share of the quota, once.
func (st *clientStream) over(err, noSend error) {
	st.end(err, noSend)
	st.mu.Lock()
	if st.lastErr == nil {
		st.lastErr = err
	}
	st.mu.Unlock()
	c := st.c
	c.mu.Lock()
	if c.streams != nil {
		delete(c.streams, st.id)
	}
	c.mu.Unlock()
	st.unwatch()
	st.release()
}

// failStream ends stream id, one we opened, with err.
func (c *Conn) failStream(id uint64, err error) {
	c.mu.Lock()
	st := c.streams[id]
	c.mu.Unlock()
	if st != nil {
		st.close(err, true)
	}
}
