package addr

import (
	"context"
	"slices"
	"sync"
)

// List is a resolver that rotates through a fixed set of replicas: each
// Resolve returns the element after the one returned last, wrapping around
// (a, b, c, a, b, …). A persistent connection whose attempt to a fails
// therefore tries b next: failover between replicas without any health
// checking.
//
// The zero value is an empty list; fill it with [List.Set]. A List is safe
// for concurrent use and must not be copied after first use. Concurrent
// callers share one rotation, so between them they still visit the elements
// in order.
type List[A any] struct {
	mu    sync.Mutex
	addrs []A
	next  int
}

// NewList returns a list that rotates through addrs, starting with the
// first. It keeps its own copy of addrs.
func NewList[A any](addrs ...A) *List[A] {
	return &List[A]{addrs: slices.Clone(addrs)}
}

// Resolve returns the next address in the rotation.
//
// It returns an [*Error] (resolver "list") wrapping [ErrNoAddresses] when
// the list is empty, or wrapping ctx.Err() when ctx is already done; an error
// does not advance the rotation.
func (l *List[A]) Resolve(ctx context.Context) (A, error) {
	var zero A
	if err := ctxError(ctx, "list"); err != nil {
		return zero, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.addrs) == 0 {
		return zero, &Error{Resolver: "list", Err: ErrNoAddresses}
	}
	a := l.addrs[l.next]
	l.next = (l.next + 1) % len(l.addrs)
	return a, nil
}

// Set replaces the list with a copy of addrs and restarts the rotation at
// its first element. It may be called concurrently with Resolve; each
// Resolve sees either the old list or the new one. Setting no addresses makes
// Resolve fail with [ErrNoAddresses] until the next Set.
func (l *List[A]) Set(addrs ...A) {
	c := slices.Clone(addrs)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs = c
	l.next = 0
}

// Addrs returns a copy of the current list, in rotation order starting from
// its first element (not from the next one Resolve would return).
func (l *List[A]) Addrs() []A {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.addrs)
}
