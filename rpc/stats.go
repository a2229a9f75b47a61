package rpc

import (
	"context"
	"time"

	"github.com/tetherkit/tether/clock"
)

// StatsHandler is told of every call, stream and one-way message a side
// makes or serves, and of its connections: the hook for metrics and
// tracing (the module github.com/tetherkit/tether/otel adapts it to
// OpenTelemetry). Set it as Config.Stats.
//
// It is called on the hot path, synchronously: keep it quick. Its methods
// get their arguments by value, so a handler that does nothing costs no
// allocation.
type StatsHandler interface {
	// TagCall is called as a call, stream or one-way message begins: on
	// the caller's side before the request is sent (once per attempt on a
	// Client), on the server's side before the interceptors and the
	// handler run. It returns the context for the rest of it: the
	// caller's side sends the headers of the returned context (add some
	// with WithHeader), the server's side hands it to the interceptors and
	// the handler.
	TagCall(ctx context.Context, info CallInfo) context.Context

	// HandleCall is called once the call, stream or one-way message is
	// over, with the context TagCall returned.
	HandleCall(ctx context.Context, info CallInfo, end CallEnd)

	// HandleConn is called when a connection has opened (after its
	// handshake) and when it has closed.
	HandleConn(ConnEvent)
}

// CallInfo says which call a StatsHandler is told about.
type CallInfo struct {
	Method *MethodInfo
	Client bool  // this side made the call, rather than serving it
	Peer   *Peer // the other side of the connection
}

// CallEnd is how a call, stream or one-way message went.
type CallEnd struct {
	// Duration is how long it took, on Config.Clock: at the caller, from
	// TagCall until the response arrived; at the server, from the
	// request's arrival until the handler's answer was queued.
	Duration time.Duration
	// RequestBytes and ResponseBytes count payload bytes on the wire: the
	// request and response of a call, the opening request and every item
	// of a stream (each way), the message of a one-way send.
	RequestBytes, ResponseBytes int
	Err                         error // nil on success
	Class                       Class // ClassOf(Err)
}

// ConnEvent is a connection that opened or closed.
type ConnEvent struct {
	Conn   *Conn
	Closed bool  // false: it has just opened
	Err    error // why it closed (a *ClosedError)
}

// callStats measures one call for a StatsHandler; its zero value, for a
// side without one, measures nothing.
//
// Reading the clock is most of what the hook costs (profiled: clockwork's
// real clock reads the wall and the monotonic clock for every Now and
// Since). So times are offsets from the connection's epoch read with
// clock.Since (the monotonic clock alone), and the time a frame arrived is
// the stamp the reader takes once per read from the socket, shared by the
// frames of that read: one read of the clock per call at each end, plus
// one per batch.
type callStats struct {
	h     StatsHandler
	info  CallInfo
	begin time.Duration // since Conn.epoch
}

// now returns the time on c's clock, as an offset from its epoch.
func (c *Conn) now() time.Duration { return clock.Since(c.cfg.Clock, c.epoch) }

// beginCall starts measuring a call of info on c, if c has a StatsHandler,
// and returns the context TagCall gave. at is when it began (a frame's
// arrival), or negative for now.
func (c *Conn) beginCall(ctx context.Context, info *MethodInfo, client bool, at time.Duration) (context.Context, callStats) {
	h := c.cfg.Stats
	if h == nil {
		return ctx, callStats{}
	}
	ci := CallInfo{Method: info, Client: client, Peer: &c.peer}
	ctx = h.TagCall(ctx, ci)
	if at < 0 {
		at = c.now()
	}
	return ctx, callStats{h: h, info: ci, begin: at}
}

// end reports the call's end, which was at (a frame's arrival), or now if
// at is negative.
func (s *callStats) end(ctx context.Context, c *Conn, at time.Duration, reqBytes, respBytes int, err error) {
	if s.h == nil {
		return
	}
	if at < 0 {
		at = c.now()
	}
	s.h.HandleCall(ctx, s.info, CallEnd{
		Duration:      max(at-s.begin, 0),
		RequestBytes:  reqBytes,
		ResponseBytes: respBytes,
		Err:           err,
		Class:         ClassOf(err),
	})
}
