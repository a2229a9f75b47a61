package node

import (
	"fmt"
	"runtime/debug"
)

// Callback handles a message arriving at a port, in the port's context.
// For a tag handler, msg is the message without its tag. Returning an
// error, or panicking, kills the port with reason "die" and the text.
type Callback func(c *Context, msg []any) error

// port is a local port. Its mutable fields are touched only by its shard's
// executor, so a port needs no lock of its own: the memory of an idle port
// is this struct and its entry in the node's table.
type port struct {
	id    string // NODE#NAME; the name is a suffix of it
	shard *shard
	cb    Callback
	tags  map[string]Callback
	mons  *monitors // nil until someone monitors the port
	dead  bool
}

// monitors is a port's monitoring state, allocated on first use.
type monitors struct {
	local  []*monitor
	remote map[string]struct{} // nodes that monitor this port (mon1)
	reason []any               // why the port died, once it has
}

func (p *port) name(n *Node) string { return p.id[len(n.id)+1:] }

// Context is a port's context: the port a callback runs for and the node
// the message came from. A Context is valid only during the callback that
// received it; to act in the port's context later, use Wrap.
type Context struct {
	n   *Node
	p   *port
	src *string // the sending node's ID; nil for this node
}

// Self returns the port's ID.
func (c *Context) Self() string { return c.p.id }

// SrcNode returns the ID of the node the message came from (this node's,
// for local messages).
func (c *Context) SrcNode() string {
	if c.src == nil {
		return c.n.id
	}
	return *c.src
}

// Node returns the node the port lives on.
func (c *Context) Node() *Node { return c.n }

// Rcv sets the handler for messages tagged tag (first element equal to
// tag) on this port; a nil cb removes it. The handler gets the message
// without its tag.
func (c *Context) Rcv(tag string, cb Callback) {
	setHandler(c.p, tag, cb)
}

// SetDefault replaces the port's default callback (nil: a message no tag
// handler takes kills the port with "unhandled_message").
func (c *Context) SetDefault(cb Callback) { c.p.cb = cb }

// Kill kills this port: with no reason, a normal death.
func (c *Context) Kill(reason ...any) { c.n.shardKill(c.p, reason) }

// Send sends a message, like Node.Send; in port context it never waits.
func (c *Context) Send(port string, msg ...any) error {
	if c.p.shard.inline { // run by a link's reader: see conn.sendHere
		return c.n.sendHere(port, msg)
	}
	return c.n.send(port, msg, false)
}

// Monitor monitors port, like Node.Monitor, with Func actions run in this
// port's context while it lives.
func (c *Context) Monitor(port string, action Action) Guard {
	return c.n.monitor(port, action, c.p)
}

// Wrap returns a function that runs fn in this port's context whenever it
// is called (from a timer, a goroutine, anywhere): AnyEvent::MP's psub. If
// the port has died by then, fn does not run.
func (c *Context) Wrap(fn func(c *Context)) func() {
	p := c.p
	return func() { p.shard.push(item{p: p, fn: fn}, false) }
}

func setHandler(p *port, tag string, cb Callback) {
	p.shard.hPort = nil
	if cb == nil {
		delete(p.tags, tag)
		return
	}
	if p.tags == nil {
		p.tags = make(map[string]Callback)
	}
	p.tags[tag] = cb
}

// deliver runs msg through p's handlers, in context c.
func (n *Node) deliver(c *Context, msg []any) {
	p := c.p
	var cb Callback
	if len(msg) > 0 && p.tags != nil {
		if tag, ok := msg[0].(string); ok {
			if s := p.shard; s.hPort == p && s.hTag == tag {
				cb, msg = s.hCb, msg[1:]
			} else if h, ok := p.tags[tag]; ok {
				cb, msg = h, msg[1:]
				s.hPort, s.hTag, s.hCb = p, tag, h
			}
		}
	}
	if cb == nil {
		cb = p.cb
	}
	if cb == nil {
		n.shardKill(p, []any{ReasonUnhandled, fmt.Sprintf("no handler for %s", describeMsg(msg))})
		return
	}
	if err := cb(c, msg); err != nil { // a panic: see shard.runFrom
		n.shardKill(p, []any{ReasonDie, err.Error()})
	}
}

// protect runs f, turning a panic into an error that says so.
func protect(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return f()
}

type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

func describeMsg(msg []any) string {
	if len(msg) == 0 {
		return "an empty message"
	}
	if tag, ok := msg[0].(string); ok {
		return fmt.Sprintf("a message tagged %q", tag)
	}
	return fmt.Sprintf("a message starting with %v", msg[0])
}
