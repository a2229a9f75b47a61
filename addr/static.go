package addr

import "context"

// Static returns a resolver that always answers a: a fixed server with no
// failover, or a stand-in for a real resolver in tests.
//
// Its Resolve fails only when ctx is already done, with an [*Error] (resolver
// "static") wrapping ctx.Err(); otherwise it returns a.
func Static[A any](a A) Resolver[A] { return static[A]{a} }

type static[A any] struct{ a A }

func (s static[A]) Resolve(ctx context.Context) (A, error) {
	if err := ctxError(ctx, "static"); err != nil {
		var zero A
		return zero, err
	}
	return s.a, nil
}
