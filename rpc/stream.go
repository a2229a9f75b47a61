package rpc

import (
	"context"
	"errors"
	"io"
	"sync"

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
	return fl.c.w.Write(ctx, b)
}

// clientStream is a stream we opened.
type clientStream struct {
	*flow
	key      methodKey
	ctx      context.Context
	size     int         // its opening request's bytes, counted in the peer's quota
	stop     func() bool // stops watching ctx; guarded by mu
	once     sync.Once   // gives back the stream's share of the quota
	sendDone bool
	told     bool // the peer was told we gave up; guarded by mu
}

// serverStream is a stream the peer opened, which we serve.
type serverStream struct {
	*flow
	ctx context.Context
}

// openStream opens a stream of method key with first as the opening
// request.
func (c *Conn) openStream(ctx context.Context, key methodKey, first any) (*clientStream, error) {
	f, id, size, err := c.opening(ctx, kindStreamOpen, key, streamHandler, first)
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
	st := &clientStream{flow: newFlow(c, id, kindStreamCredit), key: key, ctx: ctx, size: size}
	c.streams[id] = st
	c.inflight++
	c.mu.Unlock()

	if err := c.w.Write(ctx, b); err != nil {
		st.close(err, false)
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { st.close(ctx.Err(), true) })
	st.mu.Lock()
	st.stop = stop
	st.mu.Unlock()
	return st, nil
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

// release gives back the stream's share of the quota, once.
func (st *clientStream) release() {
	st.once.Do(func() { st.c.done1(st.size) })
}

// serveStream starts serving stream id: a worker runs the handler.
func (c *Conn) serveStream(id, idx, timeout uint64, payload []byte) {
	h := c.handlerAt(idx, streamHandler)
	if h == nil {
		c.replyError(id, true, codeUnknownMethod, "no stream method with that index", 0, 0)
		return
	}
	st := &serverStream{flow: newFlow(c, id, kindStreamCredBk)}
	s, ok := c.startServing(id, timeout, st, payload)
	if !ok {
		return
	}
	st.ctx = &s.ctx
	c.workers.run(job{h: h, id: id, s: s})
}

// runStream serves a stream on a worker goroutine: the handler runs, then
// the end (clean or with the handler's error) goes to the opener.
func (c *Conn) runStream(j job) {
	st := j.s.stream
	err := c.protect(j.h, func() error { return j.h.stream(st.ctx, &j.s.payload, st) })
	freePayload(j.s.payload)
	st.finish(ErrClosed)
	c.unserve(j.id, j.s)
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
			err = remoteError(code, msg, 0, 0)
		}
		st.over(err, errStreamOver)
	}
	return nil
}

// errStreamOver is what sending on a stream fails with once its handler has
// returned.
var errStreamOver = errors.New("the stream is over: its handler has returned")

// over ends the stream on the wire: no more items either way. What was
// received can still be read, then err (nil: io.EOF). It releases the
// stream's slot once.
func (st *clientStream) over(err, noSend error) {
	st.end(err, noSend)
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
