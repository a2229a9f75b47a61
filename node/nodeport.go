package node

// nodePortRequest handles a message to the node port: the requests of
// spec/aemp-wire.md §4.5.
func (n *Node) nodePortRequest(c *Context, msg []any) error {
	if len(msg) == 0 {
		return nil // an empty frame: a no-op
	}
	tag, _ := msg[0].(string)
	switch tag {
	case "", "devnull":
	default:
		n.log.Debug("node port request not understood", "tag", tag, "from", c.SrcNode())
	}
	return nil
}
