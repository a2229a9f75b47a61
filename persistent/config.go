package persistent

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
)

// Connection is what a persistent connection keeps up: anything that can be
// closed and that says when it has finished closing.
//
// Close starts closing and must be idempotent. Done is closed once the
// connection has finished closing, whoever closed it: the peer, an error, a
// heartbeat timeout or a local Close. The persistent connection learns that a
// connection died only through Done.
//
// A connection may also have an IsClosed() bool method reporting that it has
// started closing; the queries then skip it while it finishes.
type Connection interface {
	Close() error
	Done() <-chan struct{}
}

// Event is what a persistent connection reports; see package event.
type Event[A, C any] = event.Event[A, C]

// Config describes a persistent connection to a server whose addresses have
// type A, over connections of type C. ServerName, Resolver and Connect are
// required; every other field has a working zero value.
type Config[A comparable, C Connection] struct {
	// ServerName names the server in logs and errors:
	// "persistent connection to NAME".
	ServerName string

	// Resolver says where to connect. It is called at the start of every
	// attempt, so it can fail over between replicas (see package addr).
	Resolver addr.Resolver[A]

	// Connect makes one connection to a. Its context carries the [Attempt]
	// and is cancelled when Close is called; Connect must return a usable
	// connection when it returns a nil error.
	Connect func(ctx context.Context, a A) (C, error)

	// OnEvent, if set, is called with every event, after the subscribers
	// have seen it. It is awaited: the persistent connection takes no further
	// step until it returns. A panic in it is recovered and reported.
	OnEvent func(Event[A, C])

	// RetryDelay gives the delay between the starts of two attempts, before
	// jitter. Nil means Constant(DefaultRetryDelay).
	RetryDelay RetryPolicy

	// Jitter randomizes every delay d to d ± U[0, Jitter·d). Zero means
	// DefaultJitter; NoJitter (or any negative value) turns it off.
	Jitter float64

	// Clock times the retries. Nil means the wall clock.
	Clock clock.Clock

	// Rand draws the jitter. Nil means a source with a random seed.
	Rand *clock.Rand

	// Logger receives the events and recovered panics, tagged with the
	// server name. Nil means no logging.
	Logger *slog.Logger

	// OnPanic, if set, is called with every panic recovered from the
	// resolver, Connect, OnEvent or a subscriber.
	OnPanic func(*PanicError)
}

// validate checks the required fields and fills in the defaults.
func (c *Config[A, C]) validate() error {
	var errs []error
	if c.ServerName == "" {
		errs = append(errs, errors.New("field ServerName is empty"))
	}
	if c.Resolver == nil {
		errs = append(errs, errors.New("field Resolver is nil"))
	}
	if c.Connect == nil {
		errs = append(errs, errors.New("field Connect is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return &ConfigError{Err: err}
	}
	if c.RetryDelay == nil {
		c.RetryDelay = Constant(DefaultRetryDelay)
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = DefaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	c.Clock = clock.Or(c.Clock)
	if c.Rand == nil {
		c.Rand = clock.NewRand(clock.RandomSeed())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("server", c.ServerName)
	return nil
}

// ConfigError reports an invalid Config.
type ConfigError struct{ Err error }

// Error says what is wrong with the Config.
func (e *ConfigError) Error() string { return "persistent: invalid config: " + e.Err.Error() }

// Unwrap returns the problems found, joined.
func (e *ConfigError) Unwrap() error { return e.Err }
