package worker

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// ExitError says how a worker's child ended when it did not end well: a
// non-zero exit status or a signal, with the end of what it wrote to
// stderr. Worker.Err returns it; so do reads and writes on a worker whose
// child has gone, and hence the errors of an rpc connection over one.
type ExitError struct {
	Name   string         // the worker: its function, or its binary's name
	Pid    int            // the child's process ID
	Code   int            // the exit status, or -1 if a signal ended it
	Signal syscall.Signal // the signal that ended it, or 0
	Forced bool           // Close sent SIGKILL: the child outlived Grace after SIGTERM
	Grace  time.Duration  // the grace period it outlived, when Forced
	Stderr string         // the end of its stderr, at most Config.StderrTail bytes
}

// Error returns "worker NAME (pid N) exited with status 3: STDERR", or
// "… was killed by signal …", ending with the stderr tail if there is one.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker %s (pid %d) ", e.Name, e.Pid)
	switch {
	case e.Forced:
		fmt.Fprintf(&b, "did not exit within %v of SIGTERM and was killed by SIGKILL", e.Grace)
	case e.Signal != 0:
		fmt.Fprintf(&b, "was killed by signal %d (%v)", int(e.Signal), e.Signal)
	default:
		fmt.Fprintf(&b, "exited with status %d", e.Code)
	}
	if e.Stderr != "" {
		b.WriteString(": ")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

// ErrTooLarge is the cause of every *TooLargeError: test with errors.Is.
var ErrTooLarge = errors.New("message too large")

// TooLargeError reports a raw message of Size bytes where at most Max are
// allowed. From WriteMessage, nothing was sent and the pipe stays usable;
// from ReadMessage, the pipe's read side is unusable from then on (the
// message was not read, so the next length prefix cannot be found).
type TooLargeError struct {
	Size, Max int
}

// Error returns the sizes.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("worker: message of %d bytes exceeds the maximum of %d", e.Size, e.Max)
}

// Is makes errors.Is(err, ErrTooLarge) hold.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }
