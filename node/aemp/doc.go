// Package aemp is the wire layer of tether's node links: the AnyEvent::MP
// 2.x protocol that Perl AnyEvent::MP nodes speak on TCP, so that Go and Perl
// nodes can share one network, plus two extensions only Go nodes negotiate
// (msgpack framing and heartbeats). It has no ports and no node runtime: it
// turns a net.Conn into an authenticated [Link] and frames into bytes and
// back. Exchanges recorded from live Perl nodes (testdata/transcripts) are
// this package's golden tests.
//
// # A connection
//
// Both ends send two lines at once, a greeting and a nonce:
//
//	aemp;1;<node ID>;<auth methods accepted>;<framings accepted>[;key=value]…
//	<base64 of 66 random bytes>
//
// Each side then picks the auth method and the framing it will send: the
// first of the peer's list that is also in its own. If both greetings say
// tls=1.0, TLS starts, the side with the smaller nonce line as client. Each
// side sends "method;token;framing" — the token is an HMAC-SHA3-512 with the
// shared secret (or a SHA3-512 under TLS) over the four lines, so it proves
// the secret and binds both nonces — checks the peer's, and from then on the
// connection carries frames, each direction in its own framing.
//
// [Handshake] does all of that on a net.Conn and returns a [Link]: the
// result, a reader positioned at the first frame, and a writer. Inside, the
// protocol is a pure state machine, [Handshaker], which consumes peer lines
// and produces lines to send, with no I/O, clock or randomness of its own:
// it is what the tests drive line by line against the recordings, and what a
// different driver (another transport, a simulation) would reuse. The node
// plugs in at two seams: Config.CheckPeer sees the peer's greeting before
// authentication (to refuse at once a second link to a node it is already
// linked to), and Config.Commit sees the authenticated peer before the
// connection is used. With Config.TieBreak, the side with the smaller node
// ID withholds its auth line until the peer's has verified, so that its
// Commit decides which of two connections the nodes may be making to each
// other at once becomes their link — knowing who is at the other end, so
// that a peer without the secret cannot sway the choice.
//
// # Frames and values
//
// A frame is a []any, [port name, args…], whose elements are nil, bool,
// int64, float64, string, []byte, []any or map[string]any — the message
// model that JSON, CBOR and msgpack all carry. [Normalize] brings other Go
// values (int, uint32, float32, []string, named types, …) into it. Encoders
// also take Go's other integer types and float32 as they are, writing what
// Normalize would make of them, so that the common message with an int in
// it needs no converted copy; anything else outside the model they refuse.
//
// A [Framing] makes an [Encoder], which writes one frame per Write call to a
// writer the caller flushes (so a link's writer goroutine batches many
// frames per syscall), and a [Decoder], which reads frames back to back from
// the same bufio.Reader that read the handshake. There are three: [JSON] and
// [CBOR] for Perl peers (Perl lists cbor first), and [Msgpack], which Go
// nodes list first and so use between themselves. Storable is never
// offered. Msgpack's decoders are also [LazyDecoder]s: they can check a
// frame [port, …] and leave the rest encoded, as a [Rest], for an
// [Unpacker] on another goroutine, which is how a node spreads decoding
// over its executors. Consecutive rests join into one ([Rest.Join]), and
// their buffers are recycled once unpacked, so a busy link allocates
// little for them. [AppendMessage] encodes a message without letting the
// caller's slice escape.
//
// Every decoder is bounded by [Limits] — frame size, nesting depth, number
// of values — and checks each declared length against them before it
// allocates: a hostile peer gets a [*FrameError] (ErrFrameTooLarge,
// ErrFrameTooDeep, ErrTooManyElements, ErrMalformedFrame, ErrNotInModel),
// never a panic or a large allocation. After a decode error the stream
// position is lost; close the link.
//
// # Node-port requests
//
// Frames to the port "" are requests between nodes: mon1/mon0 (monitor a
// port), kil0/kil1 (a monitored port died / kill a port), snd, time, can,
// eval, AnyEvent::MP::_spawn and the g_* registry protocol. request.go names
// them and parses and builds each shape, with arity and type checks and no
// behaviour ([ParseRequest], [ParseKill], [Spawn], [DBChange], …).
//
// # Errors
//
// Handshake failures are [*HandshakeError] values whose Reason is a sentinel
// (ErrVersionMismatch, ErrSelfConnect, ErrAuthFailure, ErrNoCommonFraming,
// ErrHandshakeTimeout, …) and whose message names the peer, ready to log as
// the transport_error text. Frame failures are [*FrameError], bad requests
// [*RequestError], values outside the model [*ValueError]. All work with
// errors.Is.
package aemp
