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
	Begin    time.Time     // when TagCall was called, on Config.Clock
	Duration time.Duration // from Begin to the end
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
// side without one, measures nothing. Times are offsets from the
// connection's epoch, read with clock.Since: on the wall clock that reads
// only the monotonic clock, at half the cost of a Now (this is what the
// hook costs most, measured: two reads per call at each end).
type callStats struct {
	h     StatsHandler
	info  CallInfo
	begin time.Duration // since Conn.epoch
}

// beginCall starts measuring a call of info on c, if c has a StatsHandler,
// and returns the context TagCall gave.
func (c *Conn) beginCall(ctx context.Context, info *MethodInfo, client bool) (context.Context, callStats) {
	h := c.cfg.Stats
	if h == nil {
		return ctx, callStats{}
	}
	ci := CallInfo{Method: info, Client: client, Peer: &c.peer}
	ctx = h.TagCall(ctx, ci)
	return ctx, callStats{h: h, info: ci, begin: clock.Since(c.cfg.Clock, c.epoch)}
}

// end reports the call's end.
func (s *callStats) end(ctx context.Context, c *Conn, reqBytes, respBytes int, err error) {
	if s.h == nil {
		return
	}
	s.h.HandleCall(ctx, s.info, CallEnd{
		Begin:         c.epoch.Add(s.begin),
		Duration:      clock.Since(c.cfg.Clock, c.epoch) - s.begin,
		RequestBytes:  reqBytes,
		ResponseBytes: respBytes,
		Err:           err,
		Class:         ClassOf(err),
	})
}
