package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Process is a port backed by a goroutine and a mailbox: for code that
// reads better as a sequence of steps than as callbacks. Messages to the
// process's port go into its mailbox in arrival order; Receive takes the
// first one that matches one of its cases and leaves the others in their
// order. The mailbox is bounded (Limits.Mailbox): a process that lets it
// overflow dies with "mailbox_full".
//
// A Process's methods are for its own goroutine, except Self.
type Process struct {
	n    *Node
	p    *port
	ctx  context.Context // ends when the process dies
	stop context.CancelCauseFunc

	mu   sync.Mutex
	box  []envelope
	sig  chan struct{} // capacity 1: the mailbox changed
	dead error
}

// envelope is a mailbox entry: a message, or the end of a monitored port.
type envelope struct {
	msg  []any
	src  string
	term *Termination
}

// Go starts fn as a process and returns its port ID. When fn returns, the
// process's port dies: normally if fn returned nil, with "die" and the
// error's text otherwise (a panic too). The process's context ends when its
// port dies — by fn returning, a Kill, or the node closing.
func (n *Node) Go(fn func(p *Process) error) string {
	ctx, stop := context.WithCancelCause(n.ctx) // ends when the node closes, too
	pr := &Process{n: n, ctx: ctx, stop: stop, sig: make(chan struct{}, 1)}
	pr.p = n.newPort(n.newName(), pr.enqueue)
	n.Monitor(pr.p.id, Func(func(reason []any) { pr.die(reason) }))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := protect(func() error { return fn(pr) })
		switch {
		case err == nil:
			n.Kill(pr.p.id)
		case pr.ctx.Err() != nil:
			// Already dead: the reason is set.
		default:
			n.Kill(pr.p.id, ReasonDie, err.Error())
		}
	}()
	return pr.p.id
}

// enqueue is the process port's callback: it fills the mailbox.
func (pr *Process) enqueue(c *Context, msg []any) error {
	return pr.put(envelope{msg: msg, src: c.SrcNode()})
}

func (pr *Process) put(e envelope) error {
	pr.mu.Lock()
	if len(pr.box) >= pr.n.cfg.Limits.Mailbox {
		pr.mu.Unlock()
		pr.n.Kill(pr.p.id, ReasonMailboxFull, fmt.Sprintf("more than %d messages waiting", pr.n.cfg.Limits.Mailbox))
		return nil
	}
	pr.box = append(pr.box, e)
	pr.mu.Unlock()
	select {
	case pr.sig <- struct{}{}:
	default:
	}
	return nil
}

// die records that the process's port died.
func (pr *Process) die(reason []any) {
	err := &KilledError{Port: pr.p.id, Reason: reason}
	pr.mu.Lock()
	pr.dead = err
	pr.mu.Unlock()
	pr.stop(err)
}

// Self returns the process's port ID.
func (pr *Process) Self() string { return pr.p.id }

// Node returns the node the process runs on.
func (pr *Process) Node() *Node { return pr.n }

// Context returns a context that ends when the process dies.
func (pr *Process) Context() context.Context { return pr.ctx }

// Send sends a message, like Node.Send.
func (pr *Process) Send(port string, msg ...any) { pr.n.Send(port, msg...) }

// Case is one alternative of Receive: a message it matches and what to do
// with it. Make one with Tag, Match, Any or Terminated.
type Case struct {
	match  func(e *envelope) bool
	handle func(e *envelope) error
}

// Tag matches messages whose first element is tag; fn gets the rest.
func Tag(tag string, fn func(args []any) error) Case {
	return Case{
		match:  func(e *envelope) bool { return e.term == nil && len(e.msg) > 0 && e.msg[0] == tag },
		handle: func(e *envelope) error { return fn(e.msg[1:]) },
	}
}

// Match matches messages for which pred is true.
func Match(pred func(msg []any) bool, fn func(msg []any) error) Case {
	return Case{
		match:  func(e *envelope) bool { return e.term == nil && pred(e.msg) },
		handle: func(e *envelope) error { return fn(e.msg) },
	}
}

// Any matches every message (not terminations).
func Any(fn func(msg []any) error) Case {
	return Match(func([]any) bool { return true }, fn)
}

// Terminated matches the end of a port this process monitors (see
// Process.Monitor).
func Terminated(fn func(t Termination) error) Case {
	return Case{
		match:  func(e *envelope) bool { return e.term != nil },
		handle: func(e *envelope) error { return fn(*e.term) },
	}
}

// ErrNodeClosed is returned by Receive in a process whose node has closed.
var ErrNodeClosed = errors.New("node closed")

// ErrNoMessage is returned by Receive when its context ends before a
// matching message arrives.
var ErrNoMessage = errors.New("no message")

// ErrStop, returned by a case's function, ends a ReceiveLoop without an
// error.
var ErrStop = errors.New("stop receiving")

// Receive waits for the first message, in arrival order, that one of cases
// matches (the first case that matches it wins), removes it from the
// mailbox and runs that case; messages no case matches stay, in order. It
// returns the case's error, or an error wrapping ErrNoMessage and ctx's
// error when ctx ends first, or a *KilledError once the process is dead.
func (pr *Process) Receive(ctx context.Context, cases ...Case) error {
	for {
		pr.mu.Lock()
		for i := range pr.box {
			e := &pr.box[i]
			for _, c := range cases {
				if c.match(e) {
					env := *e
					pr.box = append(pr.box[:i], pr.box[i+1:]...)
					pr.mu.Unlock()
					return c.handle(&env)
				}
			}
		}
		dead := pr.dead
		pr.mu.Unlock()
		if dead != nil {
			return dead
		}
		if pr.ctx.Err() != nil {
			return ErrNodeClosed
		}
		select {
		case <-pr.sig:
		case <-pr.ctx.Done():
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoMessage, ctx.Err())
		}
	}
}

// ReceiveLoop calls Receive until a case returns ErrStop (then it returns
// nil) or another error, which it returns.
func (pr *Process) ReceiveLoop(ctx context.Context, cases ...Case) error {
	for {
		if err := pr.Receive(ctx, cases...); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
}

// TermKind says how a monitored port ended.
type TermKind int

// The kinds of termination, as OCaml's distributed library names them.
const (
	// Normal: the port died without a reason.
	Normal TermKind = iota
	// Exception: the port died with a reason (Reason has it).
	Exception
	// UnknownNode: the link to the port's node failed.
	UnknownNode
	// NoProcess: the port did not exist.
	NoProcess
)

var termKindNames = [...]string{"normal", "exception", "unknown node", "no process"}

// String returns the kind in words: "normal", "exception", "unknown node", "no process".
func (k TermKind) String() string { return termKindNames[k] }

// Termination is the end of a monitored port, as a Terminated case sees it.
type Termination struct {
	Port   string
	Kind   TermKind
	Reason []any // the reason, as the port died with it
}

func termination(port string, reason []any) *Termination {
	t := &Termination{Port: port, Reason: reason, Kind: Exception}
	switch {
	case IsNormal(reason):
		t.Kind = Normal
	case reason[0] == ReasonNoSuchPort:
		t.Kind = NoProcess
	case reason[0] == ReasonTransport:
		t.Kind = UnknownNode
	}
	return t
}

// Monitor watches port; when it dies a termination arrives in this
// process's mailbox, for a Terminated case.
func (pr *Process) Monitor(port string) Guard {
	return pr.n.Monitor(port, Func(func(reason []any) {
		pr.put(envelope{term: termination(port, reason)})
	}))
}

// Broadcast sends msg to every port of node: on this node, every port but
// the node port (in no particular order). To another tether node it is a
// request that node carries out; Perl nodes do not know it.
func (n *Node) Broadcast(node string, msg ...any) {
	if node != n.id {
		n.sendRemote(node, "", append([]any{reqBroadcast}, msg...), false)
		return
	}
	n.ports.each(func(p *port) {
		if p != n.nodePort {
			p.shard.push(item{p: p, msg: msg}, true)
		}
	})
}

// reqBroadcast is the node-port request tether nodes use for Broadcast.
const reqBroadcast = "tether::broadcast"
