package rpc

import (
	"errors"
	"fmt"
)

// Sentinel errors. The errors rpc returns wrap them: test with errors.Is.
var (
	// ErrClosed: the connection is closed or closing, locally or by the
	// peer. The error's text says which, and why.
	ErrClosed = errors.New("connection closed")
	// ErrUnknownMethod: the peer does not implement the method and
	// version called.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrTooLarge: a message exceeded a maximum frame size; see
	// *TooLargeError for the sizes.
	ErrTooLarge = errors.New("message too large")
	// ErrProtocol: the peer broke the protocol; the connection is closed.
	ErrProtocol = errors.New("protocol error")
	// ErrHandshake: the handshake failed; there is no connection.
	ErrHandshake = errors.New("handshake failed")
	// ErrResourceExhausted: the peer refused the call without running it,
	// because serving it would take the peer past one of its limits
	// (MaxConcurrentHandlers, MaxRequestBytes, MaxServerBytes).
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrBadRequest: the peer could not decode the request, and did not
	// run the handler.
	ErrBadRequest = errors.New("bad request")
)

// errEncode is the cause of a message that could not be encoded.
var errEncode = errors.New("cannot encode")

// Error is the error of an RPC: the connection and method it concerns,
// its class and whether it may have run, around the cause. Causes include
// *RemoteError (the handler failed), *TooLargeError, *ClosedError,
// *NotConnectedError, ErrUnknownMethod, ErrResourceExhausted,
// ErrBadRequest and context errors.
type Error struct {
	Conn    string // the connection's description, e.g. "rpc connection to 10.0.0.7:4000"
	Method  string
	Version int
	Err     error

	// Class sorts the error: see Class and ClassOf.
	Class Class
	// MayHaveRun is false when the call certainly did not run at the
	// peer: see the function MayHaveRun.
	MayHaveRun bool
}

// newError wraps err, the failure of a call of info over the connection
// (or client) desc, unless it is an *Error already. ran says whether the
// call may have run.
func newError(desc string, info *MethodInfo, err error, ran bool) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Conn: desc, Method: info.Name, Version: info.Version, Err: err, Class: classify(err), MayHaveRun: ran}
}

// Error returns "rpc METHOD vVERSION on CONN: CAUSE".
func (e *Error) Error() string {
	return fmt.Sprintf("rpc %s v%d on %s: %v", e.Method, e.Version, e.Conn, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// RemoteError is a failure reported by the peer's handler: the error it
// returned, as text, with its class (see WithClass), or the panic it
// raised (class Internal).
type RemoteError struct {
	Message string
	Panic   bool // the handler panicked
	Class   Class
}

// Error returns "remote error: MESSAGE", or says the handler panicked.
func (e *RemoteError) Error() string {
	if e.Panic {
		return "remote handler panicked: " + e.Message
	}
	return "remote error: " + e.Message
}

// TooLargeError reports a message of Size bytes where at most Max are
// allowed. Only that message fails; the connection stays up.
type TooLargeError struct {
	Size, Max int
	Remote    bool // the peer reported it, rather than this side

	response bool // a handler's response: the handler ran
}

// Error returns the sizes.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message of %d bytes exceeds the maximum of %d", e.Size, e.Max)
}

// Is makes errors.Is(err, ErrTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// ClosedError says why a connection closed: "closed by remote side: REASON"
// when the peer closed it, "closed: REASON" otherwise.
type ClosedError struct {
	Reason string
	Remote bool
}

// Error returns "closed by remote side: REASON" or "closed: REASON".
func (e *ClosedError) Error() string {
	if e.Remote {
		return "closed by remote side: " + e.Reason
	}
	return "closed: " + e.Reason
}

// Is makes errors.Is(err, ErrClosed) hold.
func (e *ClosedError) Is(target error) bool { return target == ErrClosed }

// protocolError is a violation of the protocol by the peer.
func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// handshakeError is a failed handshake.
func handshakeError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrHandshake, fmt.Sprintf(format, args...))
}

// refusal is a call or stream this side refused without running it: the
// error frame's code and message.
type refusal struct {
	code uint64
	msg  string
}

func (e *refusal) Error() string { return e.msg }

// resourceExhausted refuses a call that would take this side past a limit.
func resourceExhausted(format string, args ...any) error {
	return &refusal{code: codeResourceExhausted, msg: fmt.Sprintf(format, args...)}
}
