package node

// The remote half: until links exist, a node knows no other node, and
// everything for another node meets "no known address", as it would in
// AnyEvent::MP.

func (n *Node) sendRemote(node, name string, msg []any) {
	n.log.Debug("dropped a message for an unknown node", "node", node)
}

func (n *Node) killRemote(node, name string, reason []any) {
	n.sendRemote(node, "", append([]any{"kil1", name}, reason...))
}

func (n *Node) monitorRemote(node, name string, m *monitor) Guard {
	m.fire(n, []any{ReasonTransport, node, "no known address"})
	return Guard{}
}

func (n *Node) monitorNode(node string, m *monitor) Guard {
	m.fire(n, []any{ReasonTransport, node, "no known address"})
	return Guard{}
}
