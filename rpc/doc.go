// Package rpc is a fast, multiplexed request/response protocol for service
// clients that must stay connected: one connection carries many concurrent
// calls, one-way messages and streams, in both directions, with heartbeats,
// deadlines that travel, graceful close and strict limits. Client keeps a
// connection up to a service that may move between hosts (package
// persistent).
//
// # Model
//
// Methods are declared by name and version with their Go types, and shared
// by both sides:
//
//	var Echo = rpc.NewMethod[Req, Resp]("echo", 1)   // request/response
//	var Log = rpc.NewOneWay[Entry]("log", 1)          // no response
//	var Tail = rpc.NewStream[Req, Line]("tail", 1)    // a stream of items
//
// A side that implements them registers them in a Handlers set, its menu;
// the other calls them: Echo.Call(ctx, conn, req). A *Conn is symmetric —
// either end may serve and call — and a *Client (a persistent connection)
// can be called just like one. Messages are msgpack
// (github.com/vmihailenco/msgpack/v5): any type it encodes will do; a type
// implementing msgpack.CustomEncoder and CustomDecoder takes a fast path
// without reflection.
//
// Calls honour their context: cancelling it fails the call at once and
// cancels the handler's context at the peer; its deadline travels with the
// call and runs on the peer's clock. An unknown method or version, a
// handler's error or panic, and a message over the maximum size fail that
// call only, with a typed error; the connection stays up. Errors are *Error
// values naming the connection and the method, around causes that work
// with errors.Is and errors.As: ErrUnknownMethod, *RemoteError,
// *TooLargeError, *ClosedError (ErrClosed), context errors.
//
// # Performance
//
// One reader goroutine reads every frame; one writer goroutine writes them
// in batches (package internal/batch), so frames queued by many goroutines
// share system calls. Calls are served by a per-connection pool of worker
// goroutines; one-way messages are handled on the reader, in order. Frames
// are encoded into pooled buffers, and payloads are decoded straight from
// the read buffer. See the benchmarks in bench/ for figures next to grpc-go,
// net/rpc and NATS measured in the same run.
//
// # Limits
//
// Everything a peer can make this side hold is bounded, and every bound
// has a policy for when it is reached:
//
//   - Every frame received is bounded by Config.MaxFrameSize (past it, that
//     call or stream fails with a *TooLargeError; the connection stays
//     up), and is read into memory as its bytes arrive, never by what its
//     header announces. Payloads are checked to be well-formed msgpack
//     whose declared lengths fit the frame before they are decoded
//     (msgpack's own decoder allocates by declared length).
//   - The calls and streams one side serves at once on a connection
//     (MaxConcurrentHandlers) and the bytes of requests they hold
//     (MaxRequestBytes) are announced in the hello; the peer's callers
//     wait in turn for room, holding their share until the handler has
//     returned, even when they gave up first. A peer that sends past them
//     anyway has those calls refused without running
//     (ErrResourceExhausted).
//   - A Server bounds its connections (MaxConns: past it a connection is
//     closed unread), its handshakes in flight (MaxHandshakes: a new one
//     abandons the oldest, so silent peers cannot keep others out) and the
//     bytes it holds for all its peers (MaxServerBytes: hellos and large
//     frames being read, requests held by handlers; past it a call is
//     refused without running). Each logs a warning when it bites, at most
//     once every 10 s.
//   - The write queue (MaxQueuedBytes; senders wait for room) and each
//     stream's buffer (StreamWindow bytes, flow controlled) are bounded.
//   - The handshake has a timeout. A peer that breaks the protocol loses
//     its connection and nothing else.
//
// # Heartbeats
//
// Each side sends a heartbeat every HeartbeatInterval (10 s); any frame
// received counts as a sign of life. A side that has sent
// HeartbeatTimeout/HeartbeatInterval heartbeats (3) without hearing
// anything closes the connection, with a reason saying for how long nothing
// was heard. Counting heartbeats sent, rather than time since the last
// frame, keeps a process that was itself stalled from blaming a healthy
// peer.
//
// # Protocol
//
// A connection is a byte stream (TCP, TLS, pipes) of frames: a 4-byte
// big-endian length, then a body of concatenated msgpack values — the
// kind, the kind's fields, and for some kinds a payload (one msgpack
// value). Both sides send a hello first, then anything:
//
//	1  hello          "tether-rpc", [versions], identification, [[name, version, kind]…],
//	                  max frame size, stream window (bytes), max concurrent handlers,
//	                  max request bytes
//	2  call           id, method, timeout µs (0: none), payload
//	3  reply          id, payload
//	4  error          id, code, message [, size, max when code is "too large"]
//	5  one-way        method, payload
//	6  cancel         id
//	7  stream open    id, method, timeout µs, payload
//	8  stream item    id, payload          opener → acceptor
//	9  stream item    id, payload          acceptor → opener
//	10 stream end     id                   the opener sends no more
//	11 stream end     id, code, message    the acceptor's handler returned (code 0: cleanly)
//	12 stream credit  id, bytes            the opener can take that many more bytes of items
//	13 stream credit  id, bytes            the acceptor can take that many more bytes of items
//	14 heartbeat
//	15 close started  reason               make no new calls; calls under way may finish
//	16 close          reason               closing now
//
// The protocol version is the highest both hellos list (this is version
// 1). A method is named on the wire by its index in the receiver's menu,
// which the caller learned from the hello; ids are chosen by whoever starts
// the call or stream. A hello may carry fields after the ones above; a
// reader ignores what it does not know. Error codes: 1 the handler failed,
// 2 unknown method, 3 the handler panicked, 4 too large, 5 undecodable
// request, 6 closing, 7 cancelled, 8 refused: it would pass a limit.
package rpc
