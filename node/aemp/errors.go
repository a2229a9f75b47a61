package aemp

import (
	"errors"
	"fmt"
	"strings"
)

// ErrConfig is wrapped by the errors of NewHandshaker and Handshake for a
// configuration that cannot work (an empty node ID, an unknown framing, …).
var ErrConfig = errors.New("invalid aemp configuration")

// Sentinels for bad frames, the Reason of a [*FrameError]. Test with
// errors.Is.
var (
	// ErrFrameTooLarge: a frame is, or declares a string, list or map that
	// would make it, longer than Limits.MaxFrameSize bytes.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrFrameTooDeep: lists and maps nest deeper than Limits.MaxDepth.
	ErrFrameTooDeep = errors.New("frame nested too deep")
	// ErrTooManyElements: a frame holds more than Limits.MaxElements values.
	ErrTooManyElements = errors.New("too many elements in frame")
	// ErrMalformedFrame: the bytes are not a valid frame in the framing (bad
	// syntax, a frame that is not a list, a map key that is not a string).
	ErrMalformedFrame = errors.New("malformed frame")
	// ErrNotInModel: a value has a type outside the message model (see
	// [Normalize]): a Go type on encode, or a CBOR tag, msgpack extension or
	// other foreign item on decode.
	ErrNotInModel = errors.New("value not in the message model")
	// ErrNotUTF8: the json framing was asked to send a string or byte string
	// that is not valid UTF-8, which JSON text cannot carry.
	ErrNotUTF8 = errors.New("string is not valid UTF-8")
)

// FrameError reports a frame that could not be encoded or decoded. A decoder
// that returns one has stopped at an unknown position in the stream: the
// connection must be closed. An encoder that returns one has written nothing.
type FrameError struct {
	Op      string // "encode" or "decode"
	Framing string // "json", "cbor" or "msgpack"
	Reason  error  // one of the ErrFrame…/ErrMalformedFrame/ErrNotInModel/ErrNotUTF8 sentinels
	Detail  string // what exactly was wrong, for logs; may be empty
	Err     error  // the underlying library error, if any
}

// Error returns "aemp: FRAMING OP: REASON: DETAIL: ERR", leaving out empty parts.
func (e *FrameError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "aemp: %s %s: %v", e.Framing, e.Op, e.Reason)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the Reason and the underlying error, so errors.Is matches
// both.
func (e *FrameError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

func frameErr(framing, op string, reason error, format string, args ...any) *FrameError {
	return &FrameError{Op: op, Framing: framing, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ValueError reports a Go value that [Normalize] cannot put into the message
// model.
type ValueError struct {
	Path   string // where in the value, e.g. "[2].key[0]"; empty for the value itself
	Type   string // the offending Go type, e.g. "chan int"
	Reason string // why, e.g. "unsupported type" or "uint64 overflows int64"
}

// Error returns "aemp: value at PATH: REASON: TYPE".
func (e *ValueError) Error() string {
	path := e.Path
	if path == "" {
		path = "(top)"
	}
	return fmt.Sprintf("aemp: value at %s: %s: %s", path, e.Reason, e.Type)
}

// Is reports whether target is ErrNotInModel.
func (e *ValueError) Is(target error) bool { return target == ErrNotInModel }

// Sentinels for failed handshakes, the Reason of a [*HandshakeError]. Test
// with errors.Is.
var (
	// ErrMalformedGreeting: the peer's greeting line is not
	// "aemp;1;<node>;<auths>;<framings>[;k=v]…", or a parameter such as hb=
	// is malformed.
	ErrMalformedGreeting = errors.New("malformed greeting")
	// ErrProtocolMismatch: the peer speaks another sub-protocol (the first
	// field differs, e.g. "aemp-dataconn" instead of "aemp").
	ErrProtocolMismatch = errors.New("protocol mismatch")
	// ErrVersionMismatch: the peer's version field is not "1".
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrSelfConnect: the peer's node ID is our own ("I refuse to talk to myself").
	ErrSelfConnect = errors.New("refusing to talk to myself")
	// ErrEchoAttack: the peer sent our own greeting and nonce back, or our nonce.
	ErrEchoAttack = errors.New("authentication error, echo attack?")
	// ErrNoCommonAuth: no method in the peer's accept list is one we send.
	ErrNoCommonAuth = errors.New("no common auth type supported")
	// ErrNoCommonFraming: no framing in the peer's list is one we send, or
	// the peer declared a framing we did not offer.
	ErrNoCommonFraming = errors.New("no common framing method supported")
	// ErrNoSecret: there is neither TLS nor a shared secret to authenticate with.
	ErrNoSecret = errors.New("unable to handshake TLS and no shared secret configured")
	// ErrAuthFailure: the peer's auth line does not verify (wrong secret, a
	// method we do not accept, or tls_* without TLS).
	ErrAuthFailure = errors.New("authentication failure/shared secret mismatch")
	// ErrMalformedAuth: the peer's auth line is not "method;data;framing".
	ErrMalformedAuth = errors.New("malformed auth line")
	// ErrLineTooLong: a handshake line exceeds MaxLineLength bytes.
	ErrLineTooLong = errors.New("handshake line too long")
	// ErrTLS: the TLS handshake failed.
	ErrTLS = errors.New("TLS handshake failed")
	// ErrPeerRefused: Config.CheckPeer refused the peer (for example with
	// ErrAlreadyConnected); its error is the HandshakeError's Err.
	ErrPeerRefused = errors.New("peer refused")
	// ErrAlreadyConnected is for Config.CheckPeer to return when the node
	// already has a working link to the peer.
	ErrAlreadyConnected = errors.New("already connected, not connecting again")
	// ErrHandshakeTimeout: the handshake did not finish within Config.Timeout.
	ErrHandshakeTimeout = errors.New("handshake timeout")
	// ErrConnection: reading or writing failed, or the peer closed the
	// connection, during the handshake; the I/O error is the HandshakeError's Err.
	ErrConnection = errors.New("connection failed during handshake")
	// ErrHandshakeState: the Handshaker was driven out of order (a driver bug).
	ErrHandshakeState = errors.New("handshaker used out of order")
)

// HandshakeError reports a failed handshake. Its message names the peer when
// known, so it can be logged as is.
type HandshakeError struct {
	Reason error  // one of the handshake sentinels above
	Peer   string // the peer's node ID, when its greeting was read
	Detail string // specifics, e.g. "we: 1, they: 2"; may be empty
	Err    error  // an underlying error (I/O, TLS, context, CheckPeer), may be nil
}

// Error returns "aemp handshake[ with PEER]: REASON[ (DETAIL)][: ERR]".
func (e *HandshakeError) Error() string {
	var b strings.Builder
	b.WriteString("aemp handshake")
	if e.Peer != "" {
		b.WriteString(" with ")
		b.WriteString(e.Peer)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason.Error())
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the Reason and the underlying error, so errors.Is matches
// both (e.g. ErrConnection and io.EOF, or ErrPeerRefused and
// ErrAlreadyConnected).
func (e *HandshakeError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

func hsErr(reason error, peer, format string, args ...any) *HandshakeError {
	e := &HandshakeError{Reason: reason, Peer: peer}
	if format != "" {
		e.Detail = fmt.Sprintf(format, args...)
	}
	return e
}
