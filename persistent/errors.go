package persistent

import (
	"errors"
	"fmt"
)

// ErrClosed is reported by the queries of a persistent connection once it has
// started closing. The errors returned say which server it was for, and wrap
// the abort error when an attempt aborted the connection: test with
// errors.Is(err, ErrClosed).
var ErrClosed = errors.New("persistent connection closed")

// closedError is what queries return after close: "persistent connection to
// NAME closed", or with ": cause" when an attempt aborted the connection.
type closedError struct {
	server string
	cause  error // the Abort error, or nil after Close
}

func (e *closedError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("persistent connection to %s closed: %v", e.server, e.cause)
	}
	return fmt.Sprintf("persistent connection to %s closed", e.server)
}

func (e *closedError) Is(target error) bool { return target == ErrClosed }
func (e *closedError) Unwrap() error        { return e.cause }

// PanicError is a panic recovered from user code the persistent connection
// called: the resolver, Connect, the event handler or a subscriber. A panic
// in Resolve or Connect fails that attempt with a *PanicError; every
// recovered panic is also passed to Config.OnPanic.
//
// Its message leaves out the stack, so that the same panic twice in a row is
// reported once, like any repeated error.
type PanicError struct {
	Op    string // what panicked: "Resolve", "Connect", "OnEvent" or "subscriber"
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack, for logs
}

// Error returns "panic in OP: VALUE".
func (e *PanicError) Error() string { return fmt.Sprintf("panic in %s: %v", e.Op, e.Value) }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// errAborted stands in for a nil error passed to Attempt.Abort.
var errAborted = errors.New("aborted")
