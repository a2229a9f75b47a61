package rpc

import (
	"context"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// RetryPolicy says how a Client retries the calls of a method that may be
// called more than once (an idempotent one): see ClientConfig.Retry. It
// waits on the client's clock, within the call's context.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts, the first included (default 3).
	MaxAttempts int

	// Backoff makes the delays between attempts, one BackOff per call; a
	// BackOff that returns backoff.Stop ends the retries. Nil means
	// exponential: 50 ms, doubling up to 2 s, each delay jittered by
	// ±20% with the client's Rand. (backoff/v4's own randomization draws
	// from the global math/rand source, so the default sets it to zero.)
	Backoff func() backoff.BackOff

	// Classes are the classes of error that are retried (default
	// Unavailable and ResourceExhausted). An error whose call did not run
	// is retried whatever its class, except for Unimplemented and
	// InvalidArgument, which would fail again.
	Classes []Class
}

// Defaults of RetryPolicy.
const (
	DefaultRetryAttempts = 3
	defaultRetryInitial  = 50 * time.Millisecond
	defaultRetryMax      = 2 * time.Second
	defaultRetryJitter   = 0.2
)

// retrier carries out a RetryPolicy for one call.
type retrier struct {
	c        *Client
	policy   RetryPolicy
	attempts int // made so far
	b        backoff.BackOff
	jitter   bool // the default BackOff, jittered by us
}

func (c *Client) newRetrier(p RetryPolicy) *retrier {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetryAttempts
	}
	if p.Classes == nil {
		p.Classes = []Class{Unavailable, ResourceExhausted}
	}
	r := &retrier{c: c, policy: p, attempts: 1}
	if p.Backoff != nil {
		r.b = p.Backoff()
	} else {
		b := &backoff.ExponentialBackOff{
			InitialInterval: defaultRetryInitial,
			Multiplier:      2,
			MaxInterval:     defaultRetryMax,
			Stop:            backoff.Stop,
			Clock:           c.clock,
		}
		b.Reset()
		r.b, r.jitter = b, true
	}
	return r
}

// again reports whether the call that failed with err should be made once
// more, after waiting the policy's delay on the client's clock; false if
// not, or if ctx ends first.
func (r *retrier) again(ctx context.Context, err error) bool {
	class := ClassOf(err)
	retryable := slices.Contains(r.policy.Classes, class) ||
		!MayHaveRun(err) && class != Unimplemented && class != InvalidArgument && class != Canceled && class != DeadlineExceeded
	if !retryable || r.attempts >= r.policy.MaxAttempts || ctx.Err() != nil {
		return false
	}
	d := r.b.NextBackOff()
	if d == backoff.Stop {
		return false
	}
	if r.jitter {
		d = r.c.rand.Jitter(d, defaultRetryJitter)
	}
	if dl, ok := ctx.Deadline(); ok && r.c.clock.Until(dl) < d {
		return false // the call would time out waiting
	}
	t := r.c.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		r.attempts++
		return true
	case <-ctx.Done():
		return false
	}
}
