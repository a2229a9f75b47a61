package rpc

import (
	"context"
	"errors"
	"fmt"
)

// Class sorts the errors of calls into a few kinds that say what to do
// about them, in the spirit of gRPC's status codes (the values are the
// same). Every error a call, a one-way send or a stream returns has one:
// see ClassOf. Whether the call may have run at the peer is a separate
// question: see MayHaveRun.
type Class uint8

// The classes, with what produces them.
const (
	OK       Class = 0 // no error
	Canceled Class = 1 // the caller's context was cancelled
	// Unknown: the handler failed with an error that has no class (see
	// WithClass), or an error that is none of the below.
	Unknown Class = 2
	// InvalidArgument: the request could not be encoded or decoded, or its
	// metadata was too large.
	InvalidArgument  Class = 3
	DeadlineExceeded Class = 4 // the deadline passed (while connected or not)
	NotFound         Class = 5 // handlers only, through WithClass
	AlreadyExists    Class = 6 // handlers only, through WithClass
	PermissionDenied Class = 7 // handlers only, through WithClass
	// ResourceExhausted: a message exceeded a maximum size, or the peer
	// refused the call because serving it would pass one of its limits.
	ResourceExhausted  Class = 8
	FailedPrecondition Class = 9  // handlers only, through WithClass
	Aborted            Class = 10 // handlers only, through WithClass
	OutOfRange         Class = 11 // handlers only, through WithClass
	// Unimplemented: the peer does not implement the method and version.
	Unimplemented Class = 12
	// Internal: the peer broke the protocol (a response that does not
	// decode), or its handler panicked.
	Internal Class = 13
	// Unavailable: there was no connection, or it closed, or the peer was
	// closing and refused the call. Retry on another connection if the
	// call did not run (MayHaveRun) or is idempotent.
	Unavailable     Class = 14
	DataLoss        Class = 15 // handlers only, through WithClass
	Unauthenticated Class = 16 // handlers only, through WithClass
)

var classNames = [...]string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
	"Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"}

// String returns the class's name, as in gRPC: "Unavailable".
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", c)
}

// ClassOf returns the class of err: OK for nil, the Class of an *Error
// (which every call's error is, unless an interceptor made its own), and
// for any other error the class its cause implies (Unknown when none).
func ClassOf(err error) Class {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return classify(err)
}

// MayHaveRun reports whether the call that failed with err may have run at
// the peer, in part or whole: false when it is certain that it did not —
// it was never sent, or the peer refused it before running its handler
// (unknown method, a limit, closing, a request it could not decode) —
// true otherwise (the handler failed, or the connection was lost or the
// caller gave up after the request was sent). A call that did not run can
// be retried whatever it does; Client does so on its own for calls that
// fail with Unavailable for want of a connection.
func MayHaveRun(err error) bool {
	if err == nil {
		return true
	}
	var e *Error
	if errors.As(err, &e) {
		return e.MayHaveRun
	}
	var nc *NotConnectedError
	return !errors.As(err, &nc)
}

// WithClass returns err with class c: returned by a handler, it reaches
// the caller as a *RemoteError of that class. A handler's error without
// one has class Unknown.
func WithClass(err error, c Class) error {
	if err == nil {
		return nil
	}
	return &classError{err: err, class: c}
}

type classError struct {
	err   error
	class Class
}

func (e *classError) Error() string { return e.err.Error() }
func (e *classError) Unwrap() error { return e.err }

// handlerClass is the class a handler's error is reported with.
func handlerClass(err error) Class {
	var ce *classError
	if errors.As(err, &ce) && ce.class != OK {
		return ce.class
	}
	return Unknown
}

// classify returns the class a cause implies.
func classify(err error) Class {
	var (
		re *RemoteError
		ce *classError
		nc *NotConnectedError
	)
	switch {
	case errors.As(err, &re):
		return re.Class
	case errors.As(err, &ce):
		return ce.class
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.As(err, &nc), errors.Is(err, ErrClosed), errors.Is(err, ErrHandshake):
		return Unavailable
	case errors.Is(err, ErrResourceExhausted), errors.Is(err, ErrTooLarge):
		return ResourceExhausted
	case errors.Is(err, ErrUnknownMethod):
		return Unimplemented
	case errors.Is(err, ErrProtocol):
		return Internal
	case errors.Is(err, ErrMetadataTooLarge), errors.Is(err, ErrBadRequest), errors.Is(err, errEncode):
		return InvalidArgument
	}
	return Unknown
}
