package rpc

import (
	"context"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
)

// callCtx is the context of a call or stream we serve. It ends when the
// caller cancels, when its deadline passes on the connection's clock, or
// when the connection closes (shutdown cancels every served call).
//
// It is lighter than context.WithCancel on the connection's context: no
// entry in a shared children map under a shared lock, and the Done channel
// is made only if the handler asks for it. Contexts derived from it with the
// context package are cancelled through its AfterFunc method, without a
// goroutine each.
type callCtx struct {
	peer   *Peer    // the caller: PeerFromContext
	header Metadata // the caller's headers: HeaderFromContext

	mu          sync.Mutex
	done        chan struct{} // made on first Done
	err         error
	deadline    time.Time
	timer       clock.Timer
	after       map[*func()]struct{}
	trailer     Metadata // set by SetTrailer
	trailerSent bool     // the trailer has gone (or was dropped): no more
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// setTimeout arms the call's deadline, timeout from now on clk.
func (c *callCtx) setTimeout(clk clock.Clock, timeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = clk.Now().Add(timeout)
	if c.err == nil { // not cancelled already (the connection closed)
		c.timer = clk.AfterFunc(timeout, func() { c.cancel(context.DeadlineExceeded) })
	}
}

func (c *callCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, !c.deadline.IsZero()
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value answers for the call: its peer, its headers, and where its trailer
// goes.
func (c *callCtx) Value(key any) any {
	switch key.(type) {
	case peerKey:
		return c.peer
	case incomingKey:
		return c.header
	case trailerKey:
		return c
	}
	return nil
}

// takeTrailer returns the trailer set so far, and makes later SetTrailers
// fail.
func (c *callCtx) takeTrailer() Metadata {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trailerSent = true
	return c.trailer
}

// cancel ends the context with err, if it has not ended.
func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	after := c.after
	c.after = nil
	c.mu.Unlock()
	for f := range after {
		go (*f)()
	}
}

// AfterFunc runs f in its own goroutine once the context ends, like
// context.AfterFunc, which uses it.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	key := &f
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	if c.after == nil {
		c.after = make(map[*func()]struct{})
	}
	c.after[key] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.after[key]
		delete(c.after, key)
		return ok
	}
}

func (c *callCtx) String() string { return "rpc call context" }
