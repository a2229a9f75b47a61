package persistent

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
)

// run is the persistent connection's one goroutine: cycle after cycle until
// closing, then release everything.
func (p *Conn[A, C]) run() {
	defer p.finish()
	for p.cycle() {
	}
}

// finish marks the persistent connection closed (if Close did not) and
// closes CloseFinished.
func (p *Conn[A, C]) finish() {
	p.shut(&closedError{server: p.cfg.ServerName})
	p.cancel()
	close(p.finished)
}

// cycle runs one cycle: AttemptingToConnect, attempts until one connects,
// the connection's life, Disconnected, and the rest of that attempt's delay.
// It reports whether another cycle should follow.
func (p *Conn[A, C]) cycle() bool {
	p.emit(Event[A, C]{Kind: event.AttemptingToConnect})
	var addrs memo[A]
	var errs memo[string]
	for failures := 0; ; failures++ {
		if p.stopping() {
			return false
		}
		// The delay runs from the start of this attempt, so time spent in
		// the attempt counts toward it.
		timer := p.cfg.Clock.NewTimer(retryDelay(p.cfg.RetryDelay, failures, p.cfg.Jitter, p.cfg.Rand))
		c, err, abortErr := p.attempt(failures, &addrs)
		if abortErr != nil {
			// As in the reference: the attempt is reported as failed with
			// its own error (the abort error if it returned a connection
			// anyway), always, and only then does the persistent
			// connection close, its queries returning the abort error.
			timer.Stop()
			if err == nil {
				err = abortErr
			}
			p.emit(Event[A, C]{Kind: event.FailedToConnect, Err: err})
			p.shut(&closedError{server: p.cfg.ServerName, cause: abortErr})
			return false
		}
		if err == nil {
			return p.live(c, timer)
		}
		p.settle(result[C]{err: err})
		if errs.update(err.Error()) {
			// The first failure in a row is news; later ones, logged at
			// DEBUG, are the same outage going on.
			level := slog.LevelInfo
			if failures > 0 {
				level = slog.LevelDebug
			}
			p.emitAt(level, Event[A, C]{Kind: event.FailedToConnect, Err: err})
		}
		if !p.wait(timer) {
			return false
		}
	}
}

// attempt resolves and connects once. It reports ObtainedAddress when the
// address changed. If the attempt aborted the persistent connection,
// abortErr is the abort error, err the attempt's own error, and any
// connection made has been closed.
func (p *Conn[A, C]) attempt(failures int, addrs *memo[A]) (c C, err, abortErr error) {
	at := &Attempt{failures: failures}
	ctx := context.WithValue(p.ctx, attemptKey{}, at)
	a, err := call(p, "Resolve", func() (A, error) { return p.cfg.Resolver.Resolve(ctx) })
	if err == nil {
		if addrs.update(a) {
			p.emit(Event[A, C]{Kind: event.ObtainedAddress, Addr: a})
		}
		c, err = call(p, "Connect", func() (C, error) { return p.cfg.Connect(ctx, a) })
	}
	if abortErr := at.aborted(); abortErr != nil {
		if err == nil {
			closeAndWait(c)
		}
		return zero[C](), err, abortErr
	}
	return c, err, nil
}

// live runs a connection's life: Connected, wait for it to die (or close
// it), Disconnected, then wait out the delay of the attempt that made it.
// It reports whether another cycle should follow.
func (p *Conn[A, C]) live(c C, timer clock.Timer) bool {
	select {
	case <-p.closeWhen:
		// Asked to close with the current connection while this one was
		// being made: it never becomes current.
		timer.Stop()
		closeAndWait(c)
		return false
	default:
	}
	p.publish(c)
	p.settle(result[C]{conn: c})
	p.emit(Event[A, C]{Kind: event.Connected, Conn: c})
	select {
	case <-c.Done():
	case <-p.closeReq:
		closeAndWait(c)
	}
	p.unpublish()
	p.emit(Event[A, C]{Kind: event.Disconnected})
	if p.stopping() {
		timer.Stop()
		return false
	}
	return p.wait(timer)
}

// wait waits for timer, and reports false instead if the persistent
// connection is to stop first.
func (p *Conn[A, C]) wait(timer clock.Timer) bool {
	select {
	case <-timer.Chan():
		return true
	case <-p.closeReq:
	case <-p.closeWhen:
	}
	timer.Stop()
	return false
}

// stopping reports whether Close or CloseWhenCurrentConnectionIsClosed has
// been called.
func (p *Conn[A, C]) stopping() bool {
	select {
	case <-p.closeReq:
		return true
	case <-p.closeWhen:
		return true
	default:
		return false
	}
}

// emit reports e: to the log (at INFO for connections made, lost and
// failed, else DEBUG), to the subscribers, then to the handler, whose return
// it awaits.
func (p *Conn[A, C]) emit(e Event[A, C]) {
	level := slog.LevelDebug
	switch e.Kind {
	case event.Connected, event.Disconnected, event.FailedToConnect:
		level = slog.LevelInfo
	}
	p.emitAt(level, e)
}

// emitAt is emit, logging at level. The log line's message is the kind of
// event, a constant; the address and the error are attributes.
func (p *Conn[A, C]) emitAt(level slog.Level, e Event[A, C]) {
	if p.cfg.Logger.Enabled(context.Background(), level) {
		var attrs []any
		switch e.Kind {
		case event.ObtainedAddress:
			attrs = []any{"addr", e.Addr}
		case event.FailedToConnect:
			attrs = []any{"err", e.Err}
		}
		p.cfg.Logger.Log(context.Background(), level, e.Kind.String(), attrs...)
	}
	p.bus.Publish(e)
	if h := p.cfg.OnEvent; h != nil {
		call(p, "OnEvent", func() (struct{}, error) { h(e); return struct{}{}, nil })
	}
}

// call runs f, turning a panic into a *PanicError that is also reported.
func call[T any, A comparable, C Connection](p *Conn[A, C], op string, f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = p.panicked(op, r)
		}
	}()
	return f()
}

// panicked reports a recovered panic and returns it as an error. It must be
// called from the deferred function that recovered, so that the stack is
// the panicking one.
func (p *Conn[A, C]) panicked(op string, v any) *PanicError {
	pe := &PanicError{Op: op, Value: v, Stack: debug.Stack()}
	p.cfg.Logger.Warn("recovered a panic", "op", op, "panic", v, "stack", string(pe.Stack))
	if p.cfg.OnPanic != nil {
		p.cfg.OnPanic(pe)
	}
	return pe
}

func closeAndWait(c Connection) {
	_ = c.Close() // the error is the connection's own business; Done says when it is over
	<-c.Done()
}
