package node

import (
	"context"

	"github.com/tetherkit/tether/node/aemp"
)

type callResult struct {
	msg []any
	err error
}

// Call sends msg to port with a fresh reply port appended, and returns the
// first message that reaches the reply port. It monitors the target: if
// the target dies first (or does not exist, or the link to its node fails)
// Call fails with a *KilledError that has the reason; if ctx ends first,
// with ctx's error; if the node closes, with ErrNodeClosed. The reply port
// is killed afterwards, and Call returns exactly once: a second reply, or
// a reply after a failure, is dropped. A message that cannot travel (see
// Send) fails the Call at once with Send's error.
func (n *Node) Call(ctx context.Context, port string, msg ...any) ([]any, error) {
	res := make(chan callResult, 1)
	deliver := func(r callResult) {
		select {
		case res <- r:
		default: // one result only
		}
	}
	reply := n.newPort(n.newName(), func(c *Context, m []any) error {
		deliver(callResult{msg: m})
		c.Kill()
		return nil
	})
	// The monitor acts in the reply port's context, so that a reply and
	// then the target's death (a port that answers and exits) arrive in
	// that order, whatever executors the target and the node port run on.
	guard := n.monitor(port, Func(func(reason []any) {
		deliver(callResult{err: &KilledError{Port: port, Reason: reason}})
	}), reply)
	// msg and the reply port: on the stack for the usual few arguments
	// (nothing of msg may reach the heap, see Send), in a copy otherwise.
	var err error
	if len(msg) < 8 {
		var buf [8]any
		for i, v := range msg { // into the array: a copy into a slice would escape
			buf[i] = v
		}
		buf[len(msg)] = reply.id
		err = n.Send(port, buf[:len(msg)+1]...)
	} else {
		var args []any
		if args, err = aemp.CopyList(msg); err == nil {
			err = n.Send(port, append(args, reply.id)...)
		}
	}
	if err != nil { // a message that cannot travel (see Send): nothing was sent
		guard.Stop()
		n.Kill(reply.id)
		return nil, err
	}
	var r callResult
	select {
	case r = <-res:
	case <-ctx.Done():
		r.err = ctx.Err()
	case <-n.ctx.Done():
		r.err = ErrNodeClosed
	}
	guard.Stop()
	n.Kill(reply.id)
	return r.msg, r.err
}
