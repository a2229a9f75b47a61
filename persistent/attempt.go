package persistent

import (
	"context"
	"sync"
)

// Attempt describes the connection attempt in progress. The context passed
// to the resolver and to Connect carries it; get it with [AttemptFrom].
type Attempt struct {
	failures int

	mu    sync.Mutex
	abort error
}

type attemptKey struct{}

// AttemptFrom returns the attempt that ctx belongs to, if ctx was passed by a
// persistent connection to its resolver or Connect function.
func AttemptFrom(ctx context.Context) (*Attempt, bool) {
	a, ok := ctx.Value(attemptKey{}).(*Attempt)
	return a, ok
}

// Failures is how many attempts in a row failed before this one: 0 for the
// first attempt of a cycle.
func (a *Attempt) Failures() int { return a.failures }

// Abort gives up on the whole persistent connection with err (nil counts as
// a generic error). When the attempt returns, it is reported as failed —
// FailedToConnect with the error it returned, or with err if it returned a
// connection anyway, which is closed — and then the persistent connection
// closes: IsClosed is still false while that FailedToConnect is handled,
// and afterwards the queries return an error that wraps both ErrClosed and
// err. Only the first Abort counts.
func (a *Attempt) Abort(err error) {
	if err == nil {
		err = errAborted
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.abort == nil {
		a.abort = err
	}
}

func (a *Attempt) aborted() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.abort
}
