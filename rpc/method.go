package rpc

import "context"

// Caller is what calls are made on: a *Conn, or a *Client that keeps
// connections up.
type Caller interface {
	// invoke makes a call (resp is a pointer to decode the response into)
	// or sends a one-way message (resp is nil), through the Caller's
	// client interceptors.
	invoke(ctx context.Context, info *MethodInfo, req, resp any) error
	// openStream opens a stream, through the Caller's client stream
	// interceptors.
	openStream(ctx context.Context, info *MethodInfo, req any) (ClientStreamer, error)
}

// The kinds of method, as MethodInfo.Kind and a peer's menu name them.
const (
	KindMethod = "method"
	KindOneWay = "one-way"
	KindStream = "stream"
)

// Method is a request/response method with a name and a version. Both
// sides declare it with the same types; one side implements it, the other
// calls it.
//
// Requests and responses are encoded with msgpack (github.com/vmihailenco/
// msgpack/v5): any type it encodes will do. For speed, give structs the
// tag `msgpack:",as_array"` or implement msgpack.CustomEncoder and
// CustomDecoder.
type Method[Req, Resp any] struct{ info MethodInfo }

// NewMethod declares method name at version.
func NewMethod[Req, Resp any](name string, version int) *Method[Req, Resp] {
	return &Method[Req, Resp]{info: MethodInfo{Name: name, Version: version, Kind: KindMethod}}
}

// Name returns the method's name.
func (m *Method[Req, Resp]) Name() string { return m.info.Name }

// Version returns the method's version.
func (m *Method[Req, Resp]) Version() int { return m.info.Version }

// Info describes the method, as interceptors and stats handlers see it.
func (m *Method[Req, Resp]) Info() *MethodInfo { return &m.info }

// Implement registers fn as this method in hs. fn runs on its own goroutine
// for each call, with a context that is cancelled when the caller gives up
// (or its deadline, which travels with the call, passes) or the connection
// closes; the context also carries the caller's Peer (PeerFromContext) and
// headers (HeaderFromContext), and takes a trailer (SetTrailer). An error
// fn returns reaches the caller as a *RemoteError with its text and class
// (Unknown, unless set with WithClass); a panic is recovered and reported
// the same way (Panic set, class Internal); the connection carries on
// either way.
func (m *Method[Req, Resp]) Implement(hs *Handlers, fn func(ctx context.Context, req Req) (Resp, error)) {
	hs.add(&handler{info: m.info, kind: unaryHandler,
		decode: decodeNew[Req],
		call: func(ctx context.Context, req any) (any, error) {
			resp, err := fn(ctx, *req.(*Req))
			if err != nil {
				return nil, err
			}
			return &resp, nil
		},
	})
}

// decodeNew decodes a request into a new T and returns the *T.
func decodeNew[T any](payload []byte) (any, error) {
	v := new(T)
	if err := decodePayload(payload, v); err != nil {
		return nil, &badRequest{err}
	}
	return v, nil
}

// Call calls the method on c and returns the response.
//
// Call fails with an *Error that names the connection and the method, and
// tells the error's Class and whether the call may have run (MayHaveRun),
// around a cause: ErrUnknownMethod at once if the peer's menu lacks this
// method and version (the connection stays up); ErrClosed if the
// connection is closing or closed; a *TooLargeError if the request or the
// response exceeds a maximum frame size; ErrResourceExhausted if the peer
// refused it for one of its limits; a *RemoteError if the handler failed;
// ctx.Err() if ctx ends first, in which case the peer is told to cancel the
// handler; a *NotConnectedError if a Client had no connection. The
// deadline of ctx travels to the peer, and so do its headers (WithHeader);
// ReceiveTrailer collects the handler's trailer.
func (m *Method[Req, Resp]) Call(ctx context.Context, c Caller, req Req) (Resp, error) {
	var resp Resp
	err := c.invoke(ctx, &m.info, &req, &resp)
	return resp, err
}

// OneWay is a message without a response. Messages from one sender are
// handled in the order sent.
type OneWay[Msg any] struct{ info MethodInfo }

// NewOneWay declares one-way message name at version.
func NewOneWay[Msg any](name string, version int) *OneWay[Msg] {
	return &OneWay[Msg]{info: MethodInfo{Name: name, Version: version, Kind: KindOneWay}}
}

// Name returns the message's name.
func (m *OneWay[Msg]) Name() string { return m.info.Name }

// Version returns the message's version.
func (m *OneWay[Msg]) Version() int { return m.info.Version }

// Info describes the message, as interceptors and stats handlers see it.
func (m *OneWay[Msg]) Info() *MethodInfo { return &m.info }

// Implement registers fn for this message in hs. fn runs on the
// connection's reader goroutine, so that messages are handled in order, and
// must not block: hand slow work to a goroutine. Its context ends when the
// connection closes, and carries the sender's Peer and headers. An error or
// panic is logged.
func (m *OneWay[Msg]) Implement(hs *Handlers, fn func(ctx context.Context, msg Msg) error) {
	hs.add(&handler{info: m.info, kind: oneWayHandler,
		decode: decodeNew[Msg],
		call: func(ctx context.Context, msg any) (any, error) {
			return nil, fn(ctx, *msg.(*Msg))
		},
	})
}

// Send queues msg for the peer and returns without waiting for it to be
// handled. It waits only while the connection's write queue is full, until
// ctx ends. It fails like Method.Call when the peer lacks the method, the
// connection is closed, or msg is too large.
func (m *OneWay[Msg]) Send(ctx context.Context, c Caller, msg Msg) error {
	return c.invoke(ctx, &m.info, &msg, nil)
}

// Stream is a method that opens a stream: the opener sends a first request,
// and then both sides may send items — the opener more Reqs, the server
// Items — until the server's handler returns. Each direction is flow
// controlled: a sender waits when the receiver has StreamWindow bytes of
// items it has not consumed.
type Stream[Req, Item any] struct{ info MethodInfo }

// NewStream declares stream method name at version.
func NewStream[Req, Item any](name string, version int) *Stream[Req, Item] {
	return &Stream[Req, Item]{info: MethodInfo{Name: name, Version: version, Kind: KindStream}}
}

// Name returns the stream method's name.
func (s *Stream[Req, Item]) Name() string { return s.info.Name }

// Version returns the stream method's version.
func (s *Stream[Req, Item]) Version() int { return s.info.Version }

// Info describes the stream method, as interceptors and stats handlers see
// it.
func (s *Stream[Req, Item]) Info() *MethodInfo { return &s.info }

// Implement registers fn as this stream method in hs. fn runs on its own
// goroutine for each stream, with the first request; it sends items with
// st.Send and reads the opener's further requests with st.Recv. When fn
// returns the stream ends, with fn's error if any (a *RemoteError at the
// opener). Its context ends when the opener cancels or its deadline
// passes, or the connection closes; it carries the opener's Peer and
// headers, and takes a trailer.
func (s *Stream[Req, Item]) Implement(hs *Handlers, fn func(ctx context.Context, req Req, st *ServerStream[Req, Item]) error) {
	hs.add(&handler{info: s.info, kind: streamHandler,
		decode: decodeNew[Req],
		stream: func(ctx context.Context, req any, st ServerStreamer) error {
			return fn(ctx, *req.(*Req), &ServerStream[Req, Item]{st: st, ctx: ctx})
		},
	})
}

// Open opens a stream on c with req as the first request. ctx governs the
// whole stream: when it ends, the stream is cancelled at both ends; its
// deadline and headers travel to the peer. Close the stream when done with
// it.
func (s *Stream[Req, Item]) Open(ctx context.Context, c Caller, req Req) (*ClientStream[Req, Item], error) {
	st, err := c.openStream(ctx, &s.info, &req)
	if err != nil {
		return nil, err
	}
	return &ClientStream[Req, Item]{st: st}, nil
}

// ClientStream is the opener's end of a stream. Recv and Send may be used
// from different goroutines at once; each by one goroutine at a time.
type ClientStream[Req, Item any] struct{ st ClientStreamer }

// Recv returns the next item. After the server's handler has returned and
// its items are read, it returns io.EOF, or the *Error carrying the
// handler's failure. It fails with ctx's error when Open's context ends.
func (cs *ClientStream[Req, Item]) Recv() (Item, error) {
	var item Item
	err := cs.st.Recv(&item)
	return item, err
}

// Send sends a further request to the server, waiting while the server has
// a full window of requests it has not read. It fails once the handler has
// returned or the stream is closed.
func (cs *ClientStream[Req, Item]) Send(req Req) error { return cs.st.Send(&req) }

// CloseSend tells the server no more requests will come: its Recv returns
// io.EOF after the ones sent. Items still come until the handler returns.
func (cs *ClientStream[Req, Item]) CloseSend() error { return cs.st.CloseSend() }

// Close ends the stream: if the server's handler is still running it is
// cancelled. Items not yet read are dropped. It is safe to call more than
// once, and after the stream has ended.
func (cs *ClientStream[Req, Item]) Close() { cs.st.Close() }

// Trailer returns the trailer the handler set, once Recv has returned
// io.EOF or the stream's error; nil before, or if there was none.
func (cs *ClientStream[Req, Item]) Trailer() Metadata { return cs.st.Trailer() }

// ServerStream is the server's end of a stream. Send and Recv may be used
// from different goroutines at once; each by one goroutine at a time.
type ServerStream[Req, Item any] struct {
	st  ServerStreamer
	ctx context.Context
}

// Send sends an item to the opener, waiting while the opener has a full
// window of items it has not read. It fails when the stream's context ends.
func (ss *ServerStream[Req, Item]) Send(item Item) error { return ss.st.Send(&item) }

// Recv returns the opener's next request after the first, or io.EOF once
// the opener has called CloseSend and every request before it was read.
func (ss *ServerStream[Req, Item]) Recv() (Req, error) {
	var req Req
	err := ss.st.Recv(&req)
	return req, err
}

// Context returns the stream's context.
func (ss *ServerStream[Req, Item]) Context() context.Context { return ss.ctx }
