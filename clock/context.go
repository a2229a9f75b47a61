package clock

import (
	"context"
	"sync"
	"time"
)

// WithTimeout is WithDeadline(parent, c, c.Now().Add(d)).
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	c = Or(c)
	return WithDeadline(parent, c, c.Now().Add(d))
}

// WithDeadline returns a copy of parent that is cancelled when clock c reaches
// d, when the returned cancel function is called, or when parent is done,
// whichever happens first.
//
// It behaves like context.WithDeadline: Err returns nil until Done is closed,
// then context.DeadlineExceeded (the deadline passed) or context.Canceled
// (cancel was called), or parent's error; context.Cause reports the same, or
// parent's cause. Contexts derived from the result with the context package
// inherit that error. If parent's deadline is already earlier than d, the
// result is simply context.WithCancel(parent).
//
// On the real clock this is context.WithDeadline. On any other clock the
// deadline is a timer on c, so a fake clock must be advanced past d for the
// context to expire; no goroutine runs until then. Call cancel when done, as
// with the context package, to release the timer.
func WithDeadline(parent context.Context, c Clock, d time.Time) (context.Context, context.CancelFunc) {
	if isReal(c) {
		return context.WithDeadline(parent, d)
	}
	if cur, ok := parent.Deadline(); ok && !cur.After(d) {
		return context.WithCancel(parent)
	}
	inner, cancelInner := context.WithCancelCause(parent)
	ctx := &deadlineCtx{
		Context:     inner,
		cancelInner: cancelInner,
		deadline:    d,
		done:        make(chan struct{}),
	}
	wait := d.Sub(c.Now())
	ctx.mu.Lock() // the callbacks below may fire at once; they wait for this
	// The parent ending reaches us through inner.
	ctx.stopParent = context.AfterFunc(inner, func() { ctx.finish(inner.Err()) })
	if wait > 0 {
		ctx.timer = c.AfterFunc(wait, func() { ctx.cancel(context.DeadlineExceeded) })
	}
	ctx.mu.Unlock()
	if wait <= 0 {
		ctx.cancel(context.DeadlineExceeded)
	}
	return ctx, func() { ctx.cancel(context.Canceled) }
}

// deadlineCtx is a context whose deadline runs on an arbitrary Clock.
//
// It embeds a cancel-cause context so that Value and context.Cause work, but
// owns its Done channel: the context package therefore treats it as a foreign
// context and propagates cancellation to children through AfterFunc, with
// this context's Err, instead of linking children to the inner context (whose
// Err would say Canceled when the deadline passed).
type deadlineCtx struct {
	context.Context // inner: answers Value, and Cause through it
	cancelInner     context.CancelCauseFunc
	deadline        time.Time
	done            chan struct{}

	mu         sync.Mutex
	err        error
	stopParent func() bool
	timer      Timer
	afterFuncs map[*func()]struct{}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *deadlineCtx) Done() <-chan struct{}       { return c.done }

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *deadlineCtx) String() string {
	return "clock.WithDeadline(" + c.deadline.String() + ")"
}

// cancel ends the context with err (Canceled or DeadlineExceeded) as both its
// error and its cause, unless it has already ended.
//
// It finishes before it cancels the inner context: cancelling inner first
// would wake the parent watcher, whose finish, with inner's Canceled, could
// get there first and make a deadline that passed read as a cancel.
func (c *deadlineCtx) cancel(err error) {
	c.finish(err)
	c.cancelInner(err)
}

// finish records err, closes Done and runs the registered after-functions.
// Only the first call has an effect.
func (c *deadlineCtx) finish(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.stopParent()
	fns := c.afterFuncs
	c.afterFuncs = nil
	c.mu.Unlock()

	for f := range fns {
		go (*f)()
	}
}

// AfterFunc arranges for f to run in its own goroutine once c is done, like
// context.AfterFunc. The context package uses it to propagate cancellation to
// derived contexts without a goroutine per child.
func (c *deadlineCtx) AfterFunc(f func()) (stop func() bool) {
	key := &f
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	if c.afterFuncs == nil {
		c.afterFuncs = make(map[*func()]struct{})
	}
	c.afterFuncs[key] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.afterFuncs[key]
		delete(c.afterFuncs, key)
		return ok
	}
}

// Sleep waits until d has passed on clock c or ctx is done, and returns nil
// or ctx.Err() accordingly. A d <= 0 returns at once (with ctx.Err() if ctx is
// already done).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := Or(c).NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
