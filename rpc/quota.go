package rpc

import (
	"context"
	"slices"
	"sync"
)

// quota is what this side may have outstanding at the peer: how many calls
// and streams the peer serves at once (its MaxConcurrentHandlers) and how
// many bytes of requests they hold (its MaxRequestBytes), both learnt from
// its hello. A call takes its share before it is sent and gives it back
// when the peer has answered — not when the caller gives up, since the
// peer's handler holds the request until it returns — so the peer never
// sees more than it announced. Callers wait in turn for room.
//
// One request larger than the whole byte bound is let through when nothing
// else is outstanding, as the peer accepts it then.
type quota struct {
	mu       sync.Mutex
	maxCount int
	maxBytes int // 0: no bound on bytes (a peer that announced none)
	count    int
	bytes    int
	waiters  []*quotaWaiter // in arrival order
}

type quotaWaiter struct {
	n       int
	ready   chan struct{} // closed once granted
	granted bool          // guarded by quota.mu
}

func (q *quota) fitsLocked(n int) bool {
	if q.count >= q.maxCount {
		return false
	}
	return q.maxBytes == 0 || q.bytes == 0 || q.bytes+n <= q.maxBytes
}

// acquire takes room for one call of n request bytes, waiting in turn while
// there is none, until ctx ends (ctx.Err()) or done is closed (errDone).
func (q *quota) acquire(ctx context.Context, n int, done <-chan struct{}) error {
	q.mu.Lock()
	if len(q.waiters) == 0 && q.fitsLocked(n) {
		q.count++
		q.bytes += n
		q.mu.Unlock()
		return nil
	}
	w := &quotaWaiter{n: n, ready: make(chan struct{})}
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()

	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-done:
		err = errDone
	}
	q.mu.Lock()
	if w.granted { // granted as we gave up: give it back
		q.mu.Unlock()
		q.release(n)
		return err
	}
	if i := slices.Index(q.waiters, w); i >= 0 {
		q.waiters = slices.Delete(q.waiters, i, i+1)
	}
	q.grantLocked() // the waiter behind us may fit where we did not
	q.mu.Unlock()
	return err
}

// errDone stands in for the connection's closing in acquire; callers
// replace it with the reason.
var errDone = &ClosedError{Reason: "connection closed"}

// release gives back one call's room.
func (q *quota) release(n int) {
	q.mu.Lock()
	q.count--
	q.bytes -= n
	q.grantLocked()
	q.mu.Unlock()
}

// grantLocked lets waiters in, in order, while the first fits.
func (q *quota) grantLocked() {
	for len(q.waiters) > 0 && q.fitsLocked(q.waiters[0].n) {
		w := q.waiters[0]
		q.waiters[0] = nil
		q.waiters = q.waiters[1:]
		q.count++
		q.bytes += w.n
		w.granted = true
		close(w.ready)
	}
}
