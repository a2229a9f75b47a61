package addr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
)

// This file holds what the DNS resolvers, [SRV] and [Host], share.

// netResolver returns r, or net.DefaultResolver when r is nil.
func netResolver(r *net.Resolver) *net.Resolver {
	if r == nil {
		return net.DefaultResolver
	}
	return r
}

// lookup runs f and returns its results, or returns ctx.Err() as soon as
// ctx ends, whichever comes first. The net package's Go resolver notices a
// cancelled context only when its per-query timeout (seconds, from
// resolv.conf) expires, which would hold up a persistent connection being
// closed; with lookup, f finishes on its own in the background instead, its
// results discarded.
func lookup[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f(ctx)
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// lookupError wraps the error of a failed lookup for the resolver named
// name. The *net.DNSError stays reachable with errors.As. When ctx ended
// during the lookup, the result also wraps ctx.Err(), whether or not the
// net package's error already does.
func lookupError(ctx context.Context, name string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return &Error{Resolver: name, Err: err}
}

// cycle is the failover cursor the DNS resolvers share. It holds an ordering
// of a record set and the position of the next answer in it. When the cursor
// runs off the end, or the record set it was built from changes, the next
// answer starts a fresh ordering from its head. Between those points every
// answer in the ordering is handed out exactly once, so repeated calls visit
// all of them.
//
// cycle is not safe for concurrent use; its owner locks around it.
type cycle[T comparable] struct {
	set   []T // the canonical record set the ordering was built from
	order []T
	next  int
}

// advance returns the next answer for the canonical record set set. order
// builds a fresh ordering of set when one is needed; it is called only then,
// so random draws happen once per cycle.
func (c *cycle[T]) advance(set []T, order func() []T) T {
	if c.next >= len(c.order) || !slices.Equal(set, c.set) {
		c.set = set
		c.order = order()
		c.next = 0
	}
	v := c.order[c.next]
	c.next++
	return v
}
