package node

import "time"

// After sends msg to port after d on the node's clock. Stop the guard to
// cancel. msg is kept until then, and copied only when sent (see Send):
// it must not be changed meanwhile.
func (n *Node) After(d time.Duration, port string, msg ...any) Guard {
	t := n.clk.AfterFunc(d, func() { n.send(port, msg, false) })
	return Guard{stop: func() { t.Stop() }}
}

// AfterFunc calls fn after d on the node's clock, in its own goroutine; to
// run it in a port's context instead, pass a function from Context.Wrap.
// Stop the guard to cancel.
func (n *Node) AfterFunc(d time.Duration, fn func()) Guard {
	t := n.clk.AfterFunc(d, fn)
	return Guard{stop: func() { t.Stop() }}
}
