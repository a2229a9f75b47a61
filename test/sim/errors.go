package sim

import (
	"net"
	"os"
	"syscall"
)

// The network reports failures the way the net package does for TCP: a
// *net.OpError (Net "sim") whose Err is the cause, so that errors.Is works
// with syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EADDRINUSE,
// net.ErrClosed, os.ErrDeadlineExceeded and context errors, and a
// net.Error's Timeout reports deadlines.

var (
	errRefused   = os.NewSyscallError("connect", syscall.ECONNREFUSED)
	errInUse     = os.NewSyscallError("bind", syscall.EADDRINUSE)
	errNotLocal  = os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)
	errReadReset = os.NewSyscallError("read", syscall.ECONNRESET)
	errWriteRst  = os.NewSyscallError("write", syscall.ECONNRESET)
	errDialReset = os.NewSyscallError("connect", syscall.ECONNRESET)
	errTimedOut  = os.NewSyscallError("connect", syscall.ETIMEDOUT)
	errNoAddr    = os.NewSyscallError("sendto", syscall.EDESTADDRREQ)
)

// opError builds the error of operation op (dial, listen, accept, read,
// write, close, set) between source and addr, either of which may be nil.
func opError(op string, source, addr net.Addr, err error) error {
	e := &net.OpError{Op: op, Net: "sim", Err: err}
	// Leave nil interfaces nil: a typed nil Addr would print as "<nil>" and
	// compare non-nil.
	if source != nil {
		e.Source = source
	}
	if addr != nil {
		e.Addr = addr
	}
	return e
}
