package node

import (
	"context"
)

type callResult struct {
	msg []any
	err error
}

// Call sends msg to port with a fresh reply port appended, and returns the
// first message that reaches the reply port. Without a deadline on ctx it
// monitors the target and fails with a *KilledError if the target dies
// first; with one it fails with ctx's error when the deadline passes. The
// reply port is killed afterwards, and Call returns exactly once: a second
// reply, or a reply after a failure, is dropped.
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
	var guard Guard
	if _, ok := ctx.Deadline(); !ok {
		guard = n.Monitor(port, Func(func(reason []any) {
			deliver(callResult{err: &KilledError{Port: port, Reason: reason}})
		}))
	}
	out := make([]any, len(msg), len(msg)+1)
	copy(out, msg)
	n.Send(port, append(out, reply.id)...)
	var r callResult
	select {
	case r = <-res:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	guard.Stop()
	n.Kill(reply.id)
	return r.msg, r.err
}
