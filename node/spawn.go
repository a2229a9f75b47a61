package node

import (
	"slices"

	"github.com/tetherkit/tether/node/aemp"
)

// InitFunc initializes a spawned port, in its context: it installs the
// port's handlers (c.Rcv, c.SetDefault) from the spawn's arguments. An
// error or panic kills the port with "die".
type InitFunc func(c *Context, args []any) error

// Register makes init spawnable under name, on this node: no closures
// travel, only names. Registering a name again replaces its function.
func (n *Node) Register(name string, init InitFunc) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.inits[name] = init
}

// Spawn creates a port on node that runs the init function registered
// there under name, with args, and returns the new port's ID at once. The
// port is created and init runs later, even on this node: Spawn always
// returns first. If node has no such init function (or, in secure mode,
// does not allow it) the new port dies with "no_such_init", which a
// monitor set after Spawn returns sees (see Monitor). args are converted
// as Send converts messages, so init sees the same Go types on any node;
// args that cannot travel make the port die with "die" and the error, or,
// for another node, leave it uncreated ("no_such_port" to a monitor).
func (n *Node) Spawn(node, name string, args ...any) string {
	if node == n.id {
		p := n.newPort(n.newName(), nil)
		a, err := own(args)
		p.shard.push(item{p: p, fn: func(c *Context) {
			if err != nil {
				c.Kill(ReasonDie, err.Error())
				return
			}
			n.runInit(c, name, a, false)
		}}, true)
		return p.id
	}
	n.mu.Lock()
	n.spawnCtr = nextCounter(n.spawnCtr)
	portName := n.spawnP + n.spawnCtr
	n.mu.Unlock()
	if err := n.sendRemote(node, "", append([]any{aemp.ReqSpawn, portName, name}, args...), false); err != nil {
		n.log.Warn("spawn not sent: its arguments cannot travel", "node", node, "init", name, "err", err)
	}
	return node + "#" + portName
}

// initFunc returns the init function called name, or nil if there is none
// or, for a remote node's request, it may not be spawned.
func (n *Node) initFunc(name string, remote bool) InitFunc {
	if remote && n.cfg.Secure && !slices.Contains(n.cfg.Spawnable, name) {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.inits[name]
}

// runInit runs the init function name in a spawned port's context.
func (n *Node) runInit(c *Context, name string, args []any, remote bool) {
	init := n.initFunc(name, remote)
	if init == nil {
		c.Kill(ReasonNoSuchInit, name)
		return
	}
	if err := init(c, args); err != nil {
		c.Kill(ReasonDie, err.Error())
	}
}
