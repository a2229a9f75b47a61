package node

import (
	"sync/atomic"
)

// Action is what a monitor does when the port it watches dies. Make one
// with Func, KillPort or SendTo.
type Action interface {
	run(n *Node, m *monitor, reason []any)
}

type funcAction func(reason []any)
type killAction string
type sendAction struct {
	port string
	msg  []any
}

// Func calls fn with the reason. It runs in the context of the port that
// set the monitor (Context.Monitor) while that port lives, or else on the
// node port's executor; it must return promptly.
func Func(fn func(reason []any)) Action { return funcAction(fn) }

// KillPort kills the local port with the same reason — on an abnormal
// death only: a normal death leaves it alone.
func KillPort(port string) Action { return killAction(port) }

// SendTo sends msg followed by the reason's elements to port.
func SendTo(port string, msg ...any) Action { return sendAction{port: port, msg: msg} }

func (a funcAction) run(n *Node, m *monitor, reason []any) {
	np := n.nodePort
	p := m.owner
	if p == nil {
		np.shard.push(item{p: np, fn: func(*Context) { a(reason) }}, false)
		return
	}
	// Whether the owner lives is for its executor to say (p.dead is its
	// own): if it has died, the action moves on to the node port.
	p.shard.push(item{p: p, evenDead: true, fn: func(*Context) {
		if p.dead {
			np.shard.push(item{p: np, fn: func(*Context) { a(reason) }}, false)
			return
		}
		a(reason)
	}}, false)
}

func (a killAction) run(n *Node, _ *monitor, reason []any) {
	if IsNormal(reason) {
		return
	}
	if p, _ := n.local(string(a)); p != nil {
		p.shard.push(item{p: p, fn: func(*Context) { n.shardKill(p, reason) }}, false)
	}
}

func (a sendAction) run(n *Node, _ *monitor, reason []any) {
	msg := make([]any, 0, len(a.msg)+len(reason))
	n.send(a.port, append(append(msg, a.msg...), reason...), false)
}

// monitor is one Monitor call: it fires at most once.
type monitor struct {
	action Action
	owner  *port // whose context a Func runs in; nil: the node port's
	over   atomic.Bool
}

// fire runs the action with reason, unless the monitor has fired or been
// stopped.
func (m *monitor) fire(n *Node, reason []any) {
	if m.over.Swap(true) {
		return
	}
	m.action.run(n, m, reason)
}

// Guard cancels a monitor, a timer or a registration. The zero Guard's
// Stop does nothing.
type Guard struct {
	stop func()
}

// Stop cancels what the guard guards; after Stop returns it will not fire
// (a firing already under way may finish). Stop is idempotent.
func (g Guard) Stop() {
	if g.stop != nil {
		g.stop()
	}
}

// Monitor watches port and performs action once when it dies, with the
// reason. Monitoring a port that does not exist fires at once with
// "no_such_port"; one that died recently (one of the node's last 256
// deaths) fires with the reason it died of, as if the monitor had been set
// in time. Monitoring a node ID (no '#') fires when the connection
// to that node is lost, and makes sure a connection is attempted; see also
// MonitorNodes. Monitors are one-shot: set them from the local side.
func (n *Node) Monitor(port string, action Action) Guard { return n.monitor(port, action, nil) }

func (n *Node) monitor(port string, action Action, owner *port) Guard {
	m := &monitor{action: action, owner: owner}
	node, name := splitPort(port)
	switch {
	case node != n.id && name == "":
		return n.monitorNode(node, m)
	case node != n.id:
		return n.monitorRemote(node, name, m)
	case name == "":
		return Guard{stop: func() { m.over.Store(true) }} // this node: it cannot be lost
	}
	p := n.lookupForMonitor(name)
	if p == nil {
		m.fire(n, noSuchPort(port))
		return Guard{}
	}
	p.shard.push(item{p: p, evenDead: true, fn: func(*Context) {
		if p.dead {
			m.fire(n, p.mons.reason)
			return
		}
		if p.mons == nil {
			p.mons = &monitors{}
		}
		p.mons.local = append(p.mons.local, m)
	}}, owner == nil)
	return Guard{stop: func() {
		if m.over.Swap(true) {
			return
		}
		p.shard.push(item{p: p, fn: func(*Context) { p.mons.remove(m) }}, false)
	}}
}

func (ms *monitors) remove(m *monitor) {
	if ms == nil {
		return
	}
	for i, x := range ms.local {
		if x == m {
			ms.local = append(ms.local[:i], ms.local[i+1:]...)
			return
		}
	}
}

func noSuchPort(port string) []any {
	return []any{ReasonNoSuchPort, "cannot monitor nonexistent port", port}
}
