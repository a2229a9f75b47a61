package node

import (
	"fmt"
	"strings"
	"time"

	"github.com/tetherkit/tether/node/aemp"
)

// route delivers a frame that arrived on c: to a local port, or to the node
// port. A frame that is not [port name, …] breaks the protocol and fails the
// link; an empty frame is a heartbeat. Only c's reader calls it.
func (n *Node) route(c *conn, frame []any) error {
	l := c.l
	if len(frame) == 0 {
		return nil
	}
	name, ok := frame[0].(string)
	if !ok {
		return fmt.Errorf("protocol error: a frame addressed to %v, not a port name", frame[0])
	}
	if name == "" {
		// Node-port requests take effect here, in the order of the frames:
		// a spawn must create its port before the next frame, which may be
		// a message to it, is routed. The registry's go to it with the
		// connection they came on.
		if tag := requestTag(frame); strings.HasPrefix(tag, "g_") {
			if g := n.global; g != nil {
				g.receive(l.peer, c.id, aemp.Request{Tag: tag, Args: frame[2:]})
			}
			return nil
		}
		n.request(l.peer, frame[1:])
		return nil
	}
	if p := c.portNamed(name); p != nil {
		p.shard.push(item{p: p, msg: frame[1:], src: l.src}, true)
	}
	return nil // no such port: the message vanishes
}

// requestTag returns the request tag of a node-port frame, or "".
func requestTag(frame []any) string {
	if len(frame) < 2 {
		return ""
	}
	tag, _ := frame[1].(string)
	return tag
}

// portNamed looks a local port up by name, remembering the last one found:
// the frames of a link tend to go to one port after another.
func (c *conn) portNamed(name string) *port {
	if p := c.lastPort; p != nil && name == c.lastName {
		return p
	}
	p := c.l.n.lookup(name)
	if p != nil {
		c.lastName, c.lastPort = name, p
	}
	return p
}

// portNamedBytes is portNamed for a name still in bytes, which it copies
// only when it changes the last name.
func (c *conn) portNamedBytes(name []byte) *port {
	if p := c.lastPort; p != nil && string(name) == c.lastName {
		return p
	}
	return c.portNamed(string(name))
}

// nodePortRequest is the node port's callback: requests sent to it on this
// node.
func (n *Node) nodePortRequest(c *Context, msg []any) error {
	n.request(c.SrcNode(), msg)
	return nil
}

// request handles a request to this node's node port from node src: the
// requests AnyEvent::MP 2.x nodes make of each other's node ports:
// monitors, kills, relays (snd), spawns, the clock, can and eval (the
// registry's g_* frames go to the registry instead). It is safe for
// concurrent use.
func (n *Node) request(src string, msg []any) {
	if len(msg) == 0 {
		return // an empty request: a no-op
	}
	tag, _ := msg[0].(string)
	r := aemp.Request{Tag: tag, Args: msg[1:]}
	var err error
	switch tag {
	case aemp.ReqMon1, aemp.ReqMon0:
		var m aemp.Monitor
		if m, err = aemp.ParseMonitor(r); err == nil {
			n.remoteMonitor(src, m.Port, m.Start)
		}
	case aemp.ReqKil0:
		var k aemp.Kill
		if k, err = aemp.ParseKill(r); err == nil && src != n.id {
			if l := n.linkTo(src, false); l != nil {
				l.fireRemote(k.Port, k.Reason)
			}
		}
	case aemp.ReqKil1:
		var k aemp.Kill
		if k, err = aemp.ParseKill(r); err == nil && k.Port != "" {
			if p := n.lookup(k.Port); p != nil {
				n.killLocal(p, k.Reason, false)
			}
		}
	case aemp.ReqSnd:
		var s aemp.Relay
		if s, err = aemp.ParseRelay(r); err == nil {
			n.send(s.Port, s.Msg, false)
		}
	case aemp.ReqTime, aemp.ReqCan, aemp.ReqEval:
		var q aemp.Query
		if q, err = aemp.ParseQuery(r); err == nil {
			n.answer(q)
		}
	case aemp.ReqSpawn:
		var s aemp.Spawn
		if s, err = aemp.ParseSpawn(r); err == nil {
			n.remoteSpawn(s)
		}
	case aemp.ReqDevnull, aemp.ReqNop:
	case reqBroadcast:
		n.Broadcast(n.id, msg[1:]...)
	default:
		n.log.Debug("node port request not understood", "tag", tag, "from", src)
	}
	if err != nil {
		n.log.Info("bad node port request", "from", src, "err", err)
	}
}

// remoteMonitor starts (or stops) telling node about the death of local
// port name: kil0 when it dies, or at once if it does not exist.
func (n *Node) remoteMonitor(node, name string, start bool) {
	p := n.lookupForMonitor(name)
	if p == nil || p == n.nodePort {
		if start {
			n.sendRemote(node, "", append([]any{aemp.ReqKil0, name}, noSuchPort(n.id+"#"+name)...), false)
		}
		return
	}
	p.shard.push(item{p: p, evenDead: true, fn: func(*Context) {
		if p.dead {
			if start {
				n.sendRemote(node, "", append([]any{aemp.ReqKil0, name}, p.mons.reason...), false)
			}
			return
		}
		if p.mons == nil {
			p.mons = &monitors{}
		}
		if start {
			if p.mons.remote == nil {
				p.mons.remote = make(map[string]struct{})
			}
			p.mons.remote[node] = struct{}{}
		} else {
			delete(p.mons.remote, node)
		}
	}}, false)
}

// answer replies to a time, can or eval query.
func (n *Node) answer(q aemp.Query) {
	if q.Reply.Port == "" {
		return
	}
	var result []any
	switch q.Tag {
	case aemp.ReqTime:
		result = []any{float64(n.clk.Now().UnixNano()) / float64(time.Second)}
	case aemp.ReqCan:
		yes := ""
		switch q.Subject {
		case aemp.ReqMon0, aemp.ReqMon1, aemp.ReqKil0, aemp.ReqKil1, aemp.ReqSnd, aemp.ReqCan,
			aemp.ReqTime, aemp.ReqDevnull, aemp.ReqNop, aemp.ReqSpawn:
			yes = "1"
		}
		result = []any{yes}
	case aemp.ReqEval:
		result = []any{"eval is not supported by tether nodes"}
	}
	n.send(q.Reply.Port, q.Reply.Message(result...), false)
}

// remoteSpawn creates the port a remote node named in its spawn request and
// runs the init function in it.
func (n *Node) remoteSpawn(s aemp.Spawn) {
	if n.lookup(s.Name) != nil {
		n.log.Warn("spawn refused: the port name is taken", "name", s.Name)
		return
	}
	p := n.newPort(s.Name, nil)
	p.shard.push(item{p: p, fn: func(c *Context) { n.runInit(c, s.Func, s.Args, true) }}, false)
}
