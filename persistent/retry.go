package persistent

import (
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/tetherkit/tether/clock"
)

// DefaultRetryDelay is the delay between the starts of two attempts when
// Config.RetryDelay is nil.
const DefaultRetryDelay = 10 * time.Second

// DefaultJitter is the randomization applied to every delay when
// Config.Jitter is zero: a delay d becomes d ± U[0, 0.3·d).
const DefaultJitter = 0.3

// NoJitter, as Config.Jitter, makes every delay exactly what the policy says.
const NoJitter = -1

// RetryPolicy gives the delay between the start of one attempt and the start
// of the next, as a function of failures: how many attempts in a row have
// failed before the one being started (0 for the first attempt of a cycle,
// and after every successful connection). The persistent connection adds
// jitter on top; a policy should return exact delays.
//
// The persistent connection calls its policy from one goroutine, once per
// attempt, with failures counting 0, 1, 2, … and back to 0.
type RetryPolicy func(failures int) time.Duration

// Constant is a policy with the same delay for every attempt.
func Constant(d time.Duration) RetryPolicy {
	return func(int) time.Duration { return d }
}

// Exponential adapts backoff/v4's ExponentialBackOff (nil means
// backoff.NewExponentialBackOff()): InitialInterval for the first attempt,
// multiplied by Multiplier after every failure, up to MaxInterval.
//
// The adapter takes b over: it sets RandomizationFactor to 0 (the persistent
// connection jitters with its own seeded source instead of the global one),
// MaxElapsedTime to 0 (a persistent connection never gives up) and Clock to
// a fixed clock (so that b never reads the wall clock), and resets b whenever
// failures is 0, that is after every successful connection. The returned
// policy is safe for concurrent use, but b must not be used elsewhere.
func Exponential(b *backoff.ExponentialBackOff) RetryPolicy {
	if b == nil {
		b = backoff.NewExponentialBackOff()
	}
	b.RandomizationFactor = 0
	b.MaxElapsedTime = 0
	b.Clock = fixedClock{}
	var (
		mu   sync.Mutex
		next = 0 // the failures value b is ready to answer
	)
	return func(failures int) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if failures < next || failures == 0 {
			b.Reset()
			next = 0
		}
		var d time.Duration
		for ; next <= failures; next++ {
			d = b.NextBackOff()
		}
		if d == backoff.Stop { // only if the caller set b.Stop conditions we cannot see
			d = b.MaxInterval
		}
		return d
	}
}

// fixedClock satisfies backoff.Clock without reading the wall clock; with
// MaxElapsedTime 0 the elapsed time it measures is never used.
type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Time{} }

// retryDelay is the randomized delay for an attempt: the policy's delay,
// jittered by f with r. It is a pure function of its inputs and r's state.
func retryDelay(policy RetryPolicy, failures int, f float64, r *clock.Rand) time.Duration {
	return r.Jitter(policy(failures), f)
}
