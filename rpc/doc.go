// Package rpc is a fast, multiplexed request/response protocol for service
// clients that must stay connected: one connection carries many concurrent
// calls, one-way messages and streams, in both directions, with heartbeats,
// deadlines that travel, metadata, graceful close and strict limits. Client
// keeps connections up to a service that may move between hosts (package
// persistent), spreads calls over replicas and retries what is safe to
// retry.
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
// either end may serve and call — and a *Client can be called just like
// one. A Server accepts connections and serves its menu on each. Messages
// are msgpack (github.com/vmihailenco/msgpack/v5): any type it encodes will
// do; a type implementing msgpack.CustomEncoder and CustomDecoder takes a
// fast path without reflection.
//
// Calls honour their context: cancelling it fails the call at once and
// cancels the handler's context at the peer; its deadline travels with the
// call and runs on the peer's clock. An unknown method or version, a
// handler's error or panic, and a message over the maximum size fail that
// call only; the connection stays up.
//
// # Interceptors and metadata
//
// Config.Interceptors wrap, in order, the calls, streams and one-way
// messages a side makes (UnaryClient, StreamClient) and serves (Unary,
// Stream): for authentication, logging, validation, metrics. A call
// carries headers, which the caller adds to its context (WithHeader) and a
// handler or server interceptor reads (HeaderFromContext), and returns a
// trailer, which the handler sets (SetTrailer) and the caller receives
// (ReceiveTrailer, ClientStream.Trailer). Metadata is bounded
// (MaxMetadataSize). A handler's context also says who called:
// PeerFromContext gives the peer's address and what it said about itself
// in the handshake (its identification; with TLS, the connection's
// certificates are checked by Config.TLS and ValidatePeer).
//
// Config.Stats, a StatsHandler, is told of every call's beginning and end
// (method, sizes, duration, error class) and of connections opening and
// closing; it costs nothing when it does nothing, so it can stay on. The
// module github.com/tetherkit/tether/otel turns it into OpenTelemetry
// traces and metrics, with W3C trace context carried in the headers.
//
// # Errors
//
// The error of a call is an *Error naming the connection and the method,
// around a cause that works with errors.Is and errors.As (ErrUnknownMethod,
// *RemoteError, *TooLargeError, *ClosedError, *NotConnectedError,
// ErrResourceExhausted, context errors …). Every error has a Class, as
// gRPC's status codes do — ClassOf(err): Unavailable, DeadlineExceeded,
// Canceled, Unimplemented, InvalidArgument, ResourceExhausted, Internal,
// Unknown, and the classes a handler gives its errors with WithClass — and
// says whether the call may have run at the peer: MayHaveRun(err) is false
// only when it certainly did not (never sent, or refused before its
// handler ran), so that it can be sent again whatever it does.
//
// # Clients, balancing and retries
//
// A Client keeps a connection to the service up: it resolves an address
// before every attempt (package addr: a list of replicas, DNS, a catalog
// file), reconnects with a randomized delay, and fails over. Calls wait for
// a connection within their context; a call that runs out of time while
// there is none says how the last attempt failed (*NotConnectedError).
// With ClientConfig.FailFast a call that finds no connection fails at once
// with the last attempt's error, waiting only for an attempt under way,
// never for a retry. With ClientConfig.Replicas the client keeps one
// connection to each of several replicas, each to an address no other
// holds, and sends calls round-robin to those that are up; a replica that
// comes back gets its share again.
//
// A call that did not run for want of a usable connection — its
// connection was closing, or closed before the call was sent — is sent on
// the next connection, within its context, without the caller seeing it.
// Methods that may run more than once (idempotent ones) can be given a
// RetryPolicy (ClientConfig.Retry): attempts, backoff (backoff/v4) on the
// injected clock, and the classes that are retried.
//
// # Graceful close
//
// Conn.CloseWithReason, Server.Close and Client.Close let what is under way
// finish within their context, and fail no call that they could spare: a
// side that closes tells its peer, which stops starting calls on the
// connection and says "drained" once every call it started is sent; the
// closing side waits for that before it closes, serving what came before
// and refusing (unrun) what came after, and a Client sends the refused
// calls to another connection. So a server replica that is stopped with a
// grace period (on SIGTERM, say) drops no call of its clients.
//
// # Performance
//
// One reader goroutine reads every frame; one writer goroutine writes them
// in batches (package internal/batch), so frames queued by many goroutines
// share system calls. Calls are served by a per-connection pool of worker
// goroutines; one-way messages are handled on the reader, in order. Frames
// are encoded into pooled buffers, and payloads are decoded straight from
// the read buffer. The benchmarks in the repository's bench directory
// measure it next to grpc-go, net/rpc and NATS in the same run.
//
// A lone round trip skips those goroutines on a TCP or Unix socket. Waking
// a goroutine is cheap on a busy machine, but on an idle one it means
// waking a sleeping thread on another CPU, and on a round trip's path that
// costs as much as the network. So a call that is the only one in flight
// on its connection is written by its caller; a call that arrives alone at
// the server (nothing else read and waiting, nothing else being served) is
// served on the reader goroutine, which writes the reply itself; and on a
// connection that serves nothing (a client's), the caller reads its own
// reply when no one else is reading. Calls that overlap go the batched way
// above. The difference shows only in timing:
//
//   - A handler running on the reader holds back the connection's other
//     frames. If it has not returned after 20–40 ms, a process-wide
//     watchdog starts another reader, and the handler finishes on its own:
//     a handler that blocks (even on a call back over the same connection)
//     costs the connection those milliseconds once, and deadlocks nothing.
//     When a method's handler runs 1 ms or longer on the reader, the
//     method's next 64 lone calls (on any connection of its Handlers) are
//     served by workers, and then one runs on its reader again.
//   - A caller reading its reply stops at its context's end (the read is
//     interrupted), and leaves reading to the reader goroutine. Frames the
//     peer sends unasked just after a reply (its close, a heartbeat) are
//     read within the watchdog's 20–40 ms; a stream's are read at once.
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
//	4  error          id, code, message [, size, max when the code is 4 or 9] [, class when it is 1]
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
// Version 2 adds:
//
//	17 call           id, method, timeout µs, metadata, payload
//	18 stream open    id, method, timeout µs, metadata, payload
//	19 trailer        id, metadata         precedes the reply, error or stream end of id
//	20 one-way        method, metadata, payload
//	21 drained        after a close started (by either side): the sender starts no more
//	                  calls or streams on this connection
//
// Metadata is a msgpack map of strings to strings, its keys in order. The
// protocol version is the highest both hellos list (1 or 2); the frames of
// a version are sent only to a peer that speaks it, so a version 1 peer
// sees version 1 exactly (without metadata, and without the drained
// handshake). A method is named on the wire by its index in the receiver's
// menu, which the caller learned from the hello; ids are chosen by whoever
// starts the call or stream. A hello may carry fields after the ones above;
// a reader ignores what it does not know. Error codes: 1 the handler failed
// (with a class, version 2), 2 unknown method, 3 the handler panicked, 4
// too large (a request, unrun; from a version 1 peer, possibly a
// response), 5 undecodable request, 6 closing, 7 cancelled, 8 refused: it
// would pass a limit, 9 the response was too large (version 2). Codes 2, 4
// (version 2), 5, 6 and 8 say the handler did not run.
package rpc
