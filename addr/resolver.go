package addr

import "context"

// Resolver answers "where to connect next".
//
// A persistent connection calls Resolve at the start of every connection
// attempt and dials whatever it returns, so a resolver that answers with a
// different replica on each call turns retries into failover.
//
// Resolve returns an address or an error, never both. The resolvers in this
// package return an [*Error] that names the resolver; when ctx is already
// done, or ends during a lookup, that error wraps ctx.Err(), so
// errors.Is(err, context.Canceled) works. Implementations must be safe for
// concurrent use.
type Resolver[A any] interface {
	Resolve(ctx context.Context) (A, error)
}

// ResolverFunc adapts an ordinary function to a [Resolver].
type ResolverFunc[A any] func(ctx context.Context) (A, error)

// Resolve calls f(ctx) and returns its results unchanged: errors and
// cancellation are whatever f makes of them.
func (f ResolverFunc[A]) Resolve(ctx context.Context) (A, error) { return f(ctx) }

// ctxError returns the error a resolver named name returns when ctx is
// already done, or nil when ctx is still live.
func ctxError(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return &Error{Resolver: name, Err: err}
	}
	return nil
}
