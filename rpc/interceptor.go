package rpc

import "context"

// Interceptors wrap the calls, streams and one-way messages a side makes
// and serves, as middleware: logging, authentication, metrics, retries,
// request validation. Each list runs in order, the first outermost; an
// interceptor calls next to go on (or does not, and answers itself).
//
// Requests and responses are seen as pointers to the method's Go types:
// *Req and *Resp. An interceptor that replaces a response must return the
// same type.
//
// On a Client, the client interceptors run once per call, around its
// transparent retries and its retry policy; on a Conn, once per call on
// that connection.
type Interceptors struct {
	// Unary wraps the calls and one-way messages this side serves; for a
	// one-way message the response is nil.
	Unary []UnaryServerInterceptor
	// Stream wraps the streams this side serves.
	Stream []StreamServerInterceptor
	// UnaryClient wraps the calls and one-way messages this side makes;
	// for a one-way message resp is nil.
	UnaryClient []UnaryClientInterceptor
	// StreamClient wraps the streams this side opens.
	StreamClient []StreamClientInterceptor
}

// UnaryHandler runs a method's function: next, for a server interceptor.
type UnaryHandler func(ctx context.Context, req any) (resp any, err error)

// UnaryServerInterceptor wraps the serving of a call of method info. Its
// context carries the caller's Peer (PeerFromContext) and headers
// (HeaderFromContext); it may set the trailer (SetTrailer).
type UnaryServerInterceptor func(ctx context.Context, info *MethodInfo, req any, next UnaryHandler) (any, error)

// StreamHandler runs a stream method's function with the opening request:
// next, for a server stream interceptor.
type StreamHandler func(ctx context.Context, req any, st ServerStreamer) error

// StreamServerInterceptor wraps the serving of a stream of method info. It
// may wrap st to see the items go by.
type StreamServerInterceptor func(ctx context.Context, info *MethodInfo, req any, st ServerStreamer, next StreamHandler) error

// ServerStreamer is a served stream as interceptors see it: the untyped
// form of ServerStream.
type ServerStreamer interface {
	// Context returns the stream's context.
	Context() context.Context
	// Send sends item, a *Item, to the opener.
	Send(item any) error
	// Recv decodes the opener's next request into req, a *Req.
	Recv(req any) error
}

// Invoker makes a call of method info with req and decodes the response
// into resp: next, for a client interceptor.
type Invoker func(ctx context.Context, info *MethodInfo, req, resp any) error

// UnaryClientInterceptor wraps a call of method info. Headers it adds to
// ctx (WithHeader) go with the call.
type UnaryClientInterceptor func(ctx context.Context, info *MethodInfo, req, resp any, next Invoker) error

// Streamer opens a stream of method info with the opening request req:
// next, for a client stream interceptor.
type Streamer func(ctx context.Context, info *MethodInfo, req any) (ClientStreamer, error)

// StreamClientInterceptor wraps the opening of a stream of method info. It
// may wrap the stream it returns to see the items go by.
type StreamClientInterceptor func(ctx context.Context, info *MethodInfo, req any, next Streamer) (ClientStreamer, error)

// ClientStreamer is an opened stream as interceptors see it: the untyped
// form of ClientStream.
type ClientStreamer interface {
	// Send sends req, a *Req, to the handler.
	Send(req any) error
	// Recv decodes the next item into item, an *Item; io.EOF after the
	// end.
	Recv(item any) error
	// CloseSend tells the handler no more requests will come.
	CloseSend() error
	// Close ends the stream, cancelling the handler if it still runs.
	Close()
	// Trailer returns the trailer the handler set, once Recv has returned
	// io.EOF or the stream's error.
	Trailer() Metadata
}

func chainUnaryServer(ics []UnaryServerInterceptor, info *MethodInfo, h UnaryHandler) UnaryHandler {
	for i := len(ics) - 1; i >= 0; i-- {
		ic, next := ics[i], h
		h = func(ctx context.Context, req any) (any, error) { return ic(ctx, info, req, next) }
	}
	return h
}

func chainStreamServer(ics []StreamServerInterceptor, info *MethodInfo, h StreamHandler) StreamHandler {
	for i := len(ics) - 1; i >= 0; i-- {
		ic, next := ics[i], h
		h = func(ctx context.Context, req any, st ServerStreamer) error { return ic(ctx, info, req, st, next) }
	}
	return h
}

func chainUnaryClient(ics []UnaryClientInterceptor, inv Invoker) Invoker {
	for i := len(ics) - 1; i >= 0; i-- {
		ic, next := ics[i], inv
		inv = func(ctx context.Context, info *MethodInfo, req, resp any) error {
			return ic(ctx, info, req, resp, next)
		}
	}
	return inv
}

func chainStreamClient(ics []StreamClientInterceptor, s Streamer) Streamer {
	for i := len(ics) - 1; i >= 0; i-- {
		ic, next := ics[i], s
		s = func(ctx context.Context, info *MethodInfo, req any) (ClientStreamer, error) {
			return ic(ctx, info, req, next)
		}
	}
	return s
}
