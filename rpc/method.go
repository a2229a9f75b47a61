package rpc

import (
	"context"
	"fmt"
	"io"
)

// Caller is what calls are made on: a *Conn, or a *Client that keeps one
// up.
type Caller interface {
	// conn returns the connection to use, waiting for one within ctx.
	conn(ctx context.Context) (*Conn, error)
}

// Method is a request/response method with a name and a version. Both
// sides declare it with the same types; one side implements it, the other
// calls it.
//
// Requests and responses are encoded with msgpack (github.com/vmihailenco/
// msgpack/v5): any type it encodes will do. For speed, give structs the
// tag `msgpack:",as_array"` or implement msgpack.CustomEncoder and
// CustomDecoder.
type Method[Req, Resp any] struct{ key methodKey }

// NewMethod declares method name at version.
func NewMethod[Req, Resp any](name string, version int) *Method[Req, Resp] {
	return &Method[Req, Resp]{key: methodKey{name, version}}
}

// Name returns the method's name.
func (m *Method[Req, Resp]) Name() string { return m.key.name }

// Version returns the method's version.
func (m *Method[Req, Resp]) Version() int { return m.key.version }

// Implement registers fn as this method in hs. fn runs on its own goroutine
// for each call, with a context that is cancelled when the caller gives up
// (or its deadline, which travels with the call, passes) or the connection
// closes. An error fn returns reaches the caller as a *RemoteError with its
// text; a panic is recovered and reported the same way (Panic set); the
// connection carries on either way.
func (m *Method[Req, Resp]) Implement(hs *Handlers, fn func(ctx context.Context, req Req) (Resp, error)) {
	hs.add(&handler{key: m.key, kind: unaryHandler, unary: func(ctx context.Context, payload *[]byte, f *frame) error {
		var req Req
		if err := decodeRequest(payload, &req); err != nil {
			return &badRequest{err}
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return err
		}
		return f.payload(&resp)
	}})
}

// Call calls the method on c and returns the response.
//
// Call fails with an *Error whose cause says why: ErrUnknownMethod at once
// if the peer's menu lacks this method and version (the connection stays
// up); ErrClosed if the connection is closing or closed; a *TooLargeError
// if the request or the response exceeds a maximum frame size; a
// *RemoteError if the handler failed; ctx.Err() if ctx ends first, in which
// case the peer is told to cancel the handler. The deadline of ctx travels
// to the peer.
func (m *Method[Req, Resp]) Call(ctx context.Context, c Caller, req Req) (Resp, error) {
	var resp Resp
	conn, err := c.conn(ctx)
	if err != nil {
		return resp, callError(describe(c), m.key, err)
	}
	cl, err := conn.call(ctx, m.key, &req)
	if err != nil {
		return resp, callError(conn.desc, m.key, err)
	}
	err = decodePayload(cl.payload, &resp)
	conn.recycle(cl)
	if err != nil {
		return resp, callError(conn.desc, m.key, fmt.Errorf("%w: bad response: %w", ErrProtocol, err))
	}
	return resp, nil
}

// describe names a Caller for errors when no connection could be had.
func describe(c Caller) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return "rpc"
}

// OneWay is a message without a response. Messages from one sender are
// handled in the order sent.
type OneWay[Msg any] struct{ key methodKey }

// NewOneWay declares one-way message name at version.
func NewOneWay[Msg any](name string, version int) *OneWay[Msg] {
	return &OneWay[Msg]{key: methodKey{name, version}}
}

// Name returns the message's name.
func (m *OneWay[Msg]) Name() string { return m.key.name }

// Version returns the message's version.
func (m *OneWay[Msg]) Version() int { return m.key.version }

// Implement registers fn for this message in hs. fn runs on the
// connection's reader goroutine, so that messages are handled in order, and
// must not block: hand slow work to a goroutine. Its context ends when the
// connection closes. An error or panic is logged.
func (m *OneWay[Msg]) Implement(hs *Handlers, fn func(ctx context.Context, msg Msg) error) {
	hs.add(&handler{key: m.key, kind: oneWayHandler, oneWay: func(ctx context.Context, payload []byte) error {
		var msg Msg
		if err := decodePayload(payload, &msg); err != nil {
			return &badRequest{err}
		}
		return fn(ctx, msg)
	}})
}

// Send queues msg for the peer and returns without waiting for it to be
// handled. It waits only while the connection's write queue is full, until
// ctx ends. It fails like Method.Call when the peer lacks the method, the
// connection is closed, or msg is too large.
func (m *OneWay[Msg]) Send(ctx context.Context, c Caller, msg Msg) error {
	conn, err := c.conn(ctx)
	if err != nil {
		return callError(describe(c), m.key, err)
	}
	if err := conn.sendOneWay(ctx, m.key, &msg); err != nil {
		return callError(conn.desc, m.key, err)
	}
	return nil
}

func (c *Conn) sendOneWay(ctx context.Context, key methodKey, msg any) error {
	idx, err := c.method(key, oneWayHandler)
	if err != nil {
		return err
	}
	if err := c.closedErr(); err != nil {
		return err
	}
	f := newFrame(kindOneWay)
	defer f.free()
	f.uint(idx)
	return c.sendPayload(ctx, f, msg)
}

// sendOpening sends the frame that opens a call or a stream: its id, the
// method's index in the peer's menu, the timeout, and the request.
func (c *Conn) sendOpening(ctx context.Context, k kind, id, idx, timeout uint64, req any) error {
	f := newFrame(k)
	defer f.free()
	f.uint(id)
	f.uint(idx)
	f.uint(timeout)
	return c.sendPayload(ctx, f, req)
}

// sendPayload ends f with the payload v and queues it, within the peer's
// maximum frame size.
func (c *Conn) sendPayload(ctx context.Context, f *frame, v any) error {
	if err := f.payload(v); err != nil {
		return err
	}
	b, err := f.finish(c.peerMax)
	if err != nil {
		return err
	}
	return c.w.Write(ctx, b)
}

// Stream is a method that opens a stream: the opener sends a first request,
// and then both sides may send items — the opener more Reqs, the server
// Items — until the server's handler returns. Each direction is flow
// controlled: a sender waits when the receiver has StreamWindow items it
// has not consumed.
type Stream[Req, Item any] struct{ key methodKey }

// NewStream declares stream method name at version.
func NewStream[Req, Item any](name string, version int) *Stream[Req, Item] {
	return &Stream[Req, Item]{key: methodKey{name, version}}
}

// Name returns the stream method's name.
func (s *Stream[Req, Item]) Name() string { return s.key.name }

// Version returns the stream method's version.
func (s *Stream[Req, Item]) Version() int { return s.key.version }

// Implement registers fn as this stream method in hs. fn runs on its own
// goroutine for each stream, with the first request; it sends items with
// st.Send and reads the opener's further requests with st.Recv. When fn
// returns the stream ends, with fn's error if any (a *RemoteError at the
// opener). Its context ends when the opener cancels or its deadline
// passes, or the connection closes.
func (s *Stream[Req, Item]) Implement(hs *Handlers, fn func(ctx context.Context, req Req, st *ServerStream[Req, Item]) error) {
	hs.add(&handler{key: s.key, kind: streamHandler, stream: func(ctx context.Context, payload *[]byte, st *serverStream) error {
		var req Req
		if err := decodeRequest(payload, &req); err != nil {
			return &badRequest{err}
		}
		return fn(ctx, req, &ServerStream[Req, Item]{st: st, ctx: ctx})
	}})
}

// Open opens a stream on c with req as the first request. ctx governs the
// whole stream: when it ends, the stream is cancelled at both ends; its
// deadline travels to the peer. Close the stream when done with it.
func (s *Stream[Req, Item]) Open(ctx context.Context, c Caller, req Req) (*ClientStream[Req, Item], error) {
	conn, err := c.conn(ctx)
	if err != nil {
		return nil, callError(describe(c), s.key, err)
	}
	st, err := conn.openStream(ctx, s.key, &req)
	if err != nil {
		return nil, callError(conn.desc, s.key, err)
	}
	return &ClientStream[Req, Item]{st: st}, nil
}

// ClientStream is the opener's end of a stream. Recv and Send may be used
// from different goroutines at once; each by one goroutine at a time.
type ClientStream[Req, Item any] struct{ st *clientStream }

// Recv returns the next item. After the server's handler has returned and
// its items are read, it returns io.EOF, or the *Error carrying the
// handler's failure. It fails with ctx's error when Open's context ends.
func (cs *ClientStream[Req, Item]) Recv() (Item, error) {
	var item Item
	p, err := cs.st.next(cs.st.ctx)
	if err != nil {
		return item, cs.wrap(err)
	}
	err = decodePayload(p, &item)
	freePayload(p)
	if err != nil {
		return item, cs.wrap(fmt.Errorf("%w: bad item: %w", ErrProtocol, err))
	}
	return item, nil
}

// Send sends a further request to the server, waiting while the server has
// a full window of requests it has not read. It fails once the handler has
// returned or the stream is closed.
func (cs *ClientStream[Req, Item]) Send(req Req) error {
	if err := cs.st.sendItem(cs.st.ctx, kindStreamItem, &req); err != nil {
		return cs.wrap(err)
	}
	return nil
}

// CloseSend tells the server no more requests will come: its Recv returns
// io.EOF after the ones sent. Items still come until the handler returns.
func (cs *ClientStream[Req, Item]) CloseSend() error {
	cs.st.mu.Lock()
	already := cs.st.sendDone
	cs.st.sendDone = true
	cs.st.noSend = errSendClosed
	cs.st.mu.Unlock()
	if !already {
		cs.st.c.sendSmall(kindStreamEnd, cs.st.id)
	}
	return nil
}

var errSendClosed = fmt.Errorf("CloseSend was called")

// Close ends the stream: if the server's handler is still running it is
// cancelled. Items not yet read are dropped. It is safe to call more than
// once, and after the stream has ended.
func (cs *ClientStream[Req, Item]) Close() {
	cs.st.close(ErrClosed, true)
}

func (cs *ClientStream[Req, Item]) wrap(err error) error {
	if err == io.EOF {
		return err // bare, as readers compare it with ==
	}
	return callError(cs.st.c.desc, cs.st.key, err)
}

// ServerStream is the server's end of a stream. Send and Recv may be used
// from different goroutines at once; each by one goroutine at a time.
type ServerStream[Req, Item any] struct {
	st  *serverStream
	ctx context.Context
}

// Send sends an item to the opener, waiting while the opener has a full
// window of items it has not read. It fails when the stream's context ends.
func (ss *ServerStream[Req, Item]) Send(item Item) error {
	return ss.st.sendItem(ss.ctx, kindStreamItemBk, &item)
}

// Recv returns the opener's next request after the first, or io.EOF once
// the opener has called CloseSend and every request before it was read.
func (ss *ServerStream[Req, Item]) Recv() (Req, error) {
	var req Req
	p, err := ss.st.next(ss.ctx)
	if err != nil {
		return req, err
	}
	err = decodePayload(p, &req)
	freePayload(p)
	if err != nil {
		return req, &badRequest{err}
	}
	return req, nil
}

// Context returns the stream's context.
func (ss *ServerStream[Req, Item]) Context() context.Context { return ss.ctx }
