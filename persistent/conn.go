package persistent

import (
	"context"
	"slices"
	"sync"

	"github.com/tetherkit/tether/event"
)

// Conn keeps a connection to one server up: it connects, and whenever the
// connection dies it connects again, re-resolving the address each time and
// waiting a randomized delay between attempts. See the package documentation
// for the exact behaviour.
//
// All methods are safe for concurrent use.
type Conn[A comparable, C Connection] struct {
	cfg Config[A, C]
	bus event.Bus[Event[A, C]]

	ctx       context.Context // passed to attempts; cancelled by Close
	cancel    context.CancelFunc
	closeReq  chan struct{} // closed by Close
	closeWhen chan struct{} // closed by CloseWhenCurrentConnectionIsClosed
	finished  chan struct{} // closed when everything is released
	closeOnce sync.Once
	whenOnce  sync.Once

	mu         sync.Mutex
	closed     error // non-nil once closing started: what queries return
	current    C     // the published connection, if hasCurrent
	hasCurrent bool
	changed    chan struct{}    // closed and replaced when current or closed changes
	waiters    []chan result[C] // ConnectedOrFailedToConnect callers awaiting the next attempt
}

type result[C any] struct {
	conn C
	err  error
}

// New validates cfg and starts the persistent connection: it reports
// AttemptingToConnect and makes its first attempt at once, in its own
// goroutine. It returns a *ConfigError if a required field is missing.
//
// The connection runs until Close is called, an attempt aborts it, or it is
// told to close when its current connection closes.
func New[A comparable, C Connection](cfg Config[A, C]) (*Conn[A, C], error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Conn[A, C]{
		cfg:       cfg,
		closeReq:  make(chan struct{}),
		closeWhen: make(chan struct{}),
		finished:  make(chan struct{}),
		changed:   make(chan struct{}),
	}
	p.bus.OnPanic = func(v any) { p.panicked("subscriber", v) }
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// ServerName returns the name the persistent connection was created with.
func (p *Conn[A, C]) ServerName() string { return p.cfg.ServerName }

// Subscribe calls fn with every event, starting with the most recent one if
// there has been one. Subscribers see an event before Config.OnEvent does;
// fn must not block. The returned function unsubscribes.
func (p *Conn[A, C]) Subscribe(fn func(Event[A, C])) (unsubscribe func()) {
	return p.bus.Subscribe(fn)
}

// Connected returns the first usable connection from now on: the current one
// if it is not closing, else the next one. It returns an error wrapping
// ErrClosed once the persistent connection has started closing, and
// ctx.Err() if ctx ends first.
func (p *Conn[A, C]) Connected(ctx context.Context) (C, error) {
	for {
		p.mu.Lock()
		err, c, ok, changed := p.closed, p.current, p.hasCurrent, p.changed
		p.mu.Unlock()
		if err != nil {
			return zero[C](), err
		}
		if ok && usable(c) {
			return c, nil
		}
		// Nothing usable: wait until a connection is published or
		// unpublished, or closing starts.
		select {
		case <-changed:
		case <-ctx.Done():
			return zero[C](), ctx.Err()
		}
	}
}

// ConnectedOrFailedToConnect returns the current connection if it is usable;
// otherwise it waits for the next attempt to finish and returns its result:
// the new connection, or the error the attempt failed with — even when that
// error was not reported as an event because it repeated the previous one.
// It returns an error wrapping ErrClosed once the persistent connection has
// started closing, and ctx.Err() if ctx ends first.
func (p *Conn[A, C]) ConnectedOrFailedToConnect(ctx context.Context) (C, error) {
	p.mu.Lock()
	if err := p.closed; err != nil {
		p.mu.Unlock()
		return zero[C](), err
	}
	if p.hasCurrent && usable(p.current) {
		c := p.current
		p.mu.Unlock()
		return c, nil
	}
	ch := make(chan result[C], 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()

	select {
	case r := <-ch:
		return r.conn, r.err
	case <-ctx.Done():
		p.mu.Lock()
		if i := slices.Index(p.waiters, ch); i >= 0 {
			p.waiters = slices.Delete(p.waiters, i, i+1)
		}
		p.mu.Unlock()
		return zero[C](), ctx.Err()
	}
}

// CurrentConnection returns the published connection, if there is one. There
// is none while connecting, while waiting to retry, during the handling of
// Disconnected, and after close.
func (p *Conn[A, C]) CurrentConnection() (C, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current, p.hasCurrent
}

// Close closes the persistent connection and waits until everything is
// released. The first call starts closing: IsClosed reports true at once,
// waiting queries return ErrClosed, a wait before the next attempt ends at
// once, an attempt in progress has its context cancelled and is waited for,
// and the current connection is closed and waited for. No attempt is made
// afterwards.
//
// Close returns nil once CloseFinished is closed, or ctx.Err() if ctx ends
// first; closing goes on regardless. Every call waits for the same
// completion.
func (p *Conn[A, C]) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.shut(&closedError{server: p.cfg.ServerName})
		close(p.closeReq)
		p.cancel()
	})
	select {
	case <-p.finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsClosed reports whether the persistent connection has started closing.
func (p *Conn[A, C]) IsClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed != nil
}

// CloseFinished is closed once the persistent connection has closed and
// released everything.
func (p *Conn[A, C]) CloseFinished() <-chan struct{} { return p.finished }

// CloseWhenCurrentConnectionIsClosed lets the current connection live, but
// when it dies the persistent connection closes instead of reconnecting. If
// there is no connection and the persistent connection is waiting to retry,
// it closes at once. If an attempt is in progress and succeeds, its
// connection is closed at once without being reported as Connected.
func (p *Conn[A, C]) CloseWhenCurrentConnectionIsClosed() {
	p.whenOnce.Do(func() { close(p.closeWhen) })
}

// shut marks the persistent connection closed with err, unless it already
// is, and wakes every waiting query.
func (p *Conn[A, C]) shut(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed != nil {
		return
	}
	p.closed = err
	p.current, p.hasCurrent = zero[C](), false
	p.settleLocked(result[C]{err: err})
	p.broadcastLocked()
}

// publish makes c the current connection, unless closing has started.
func (p *Conn[A, C]) publish(c C) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed == nil {
		p.current, p.hasCurrent = c, true
		p.broadcastLocked()
	}
}

// unpublish forgets the current connection.
func (p *Conn[A, C]) unpublish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current, p.hasCurrent = zero[C](), false
	p.broadcastLocked()
}

// settle hands the result of an attempt to every ConnectedOrFailedToConnect
// waiting for one.
func (p *Conn[A, C]) settle(r result[C]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settleLocked(r)
}

func (p *Conn[A, C]) settleLocked(r result[C]) {
	for _, ch := range p.waiters {
		ch <- r // buffered, and each waiter is settled once
	}
	p.waiters = nil
}

func (p *Conn[A, C]) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// usable reports whether c has not started closing, as far as can be told.
func usable(c Connection) bool {
	select {
	case <-c.Done():
		return false
	default:
	}
	if ic, ok := c.(interface{ IsClosed() bool }); ok {
		return !ic.IsClosed()
	}
	return true
}

func zero[T any]() (z T) { return z }
