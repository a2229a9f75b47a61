package event

import (
	"sync"
	"sync/atomic"
)

// Bus fans values of type T out to subscribers.
//
// Publish calls every subscriber synchronously, in subscription order, and
// returns when all have returned, so subscribers must be quick and must not
// block. Values are delivered in the order published; Publish must not be
// called concurrently with itself (a Bus has one publisher), nor from within a
// subscriber.
//
// The zero value is an empty bus ready to use.
type Bus[T any] struct {
	// OnPanic, if set, receives the value recovered from a subscriber that
	// panicked. The panic goes no further: the remaining subscribers still
	// receive the value and the subscriber stays subscribed.
	OnPanic func(recovered any)

	mu      sync.Mutex
	subs    []*subscriber[T] // replaced, never modified, so Publish can read a snapshot
	last    T
	hasLast bool
}

type subscriber[T any] struct {
	fn      func(T)
	mu      sync.Mutex // orders the replayed value before published ones
	removed atomic.Bool
}

// Publish records v as the most recent value and delivers it to every
// current subscriber.
func (b *Bus[T]) Publish(v T) {
	b.mu.Lock()
	b.last, b.hasLast = v, true
	subs := b.subs
	b.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		b.deliver(s, v)
		s.mu.Unlock()
	}
}

// Subscribe registers fn. If a value has been published, fn receives the most
// recent one before Subscribe returns, and then every later value in order,
// with none missed or repeated. The returned function unsubscribes; it is
// idempotent and may be called from within fn. After it returns, fn is not
// called again except by a delivery already under way on another goroutine.
func (b *Bus[T]) Subscribe(fn func(T)) (unsubscribe func()) {
	s := &subscriber[T]{fn: fn}
	s.mu.Lock()
	b.mu.Lock()
	b.subs = append(b.subs[:len(b.subs):len(b.subs)], s)
	last, hasLast := b.last, b.hasLast
	b.mu.Unlock()
	if hasLast {
		b.deliver(s, last)
	}
	s.mu.Unlock()
	return func() { b.unsubscribe(s) }
}

func (b *Bus[T]) unsubscribe(s *subscriber[T]) {
	if s.removed.Swap(true) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := make([]*subscriber[T], 0, len(b.subs))
	for _, x := range b.subs {
		if x != s {
			subs = append(subs, x)
		}
	}
	b.subs = subs
}

// Last returns the most recently published value, if any.
func (b *Bus[T]) Last() (T, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last, b.hasLast
}

func (b *Bus[T]) deliver(s *subscriber[T], v T) {
	if s.removed.Load() {
		return
	}
	defer func() {
		if r := recover(); r != nil && b.OnPanic != nil {
			b.OnPanic(r)
		}
	}()
	s.fn(v)
}
