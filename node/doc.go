// Package node is an Erlang-style message layer: nodes with IDs, ports
// (cheap message endpoints), asynchronous Send, tag handlers, Kill with
// reasons, monitors, Spawn of registered functions on other nodes, Call,
// timers, and processes with selective receive. Its model and its wire
// protocol are AnyEvent::MP 2.x's, so a Go node can join a network of Perl
// AnyEvent::MP nodes (spec/node.md, spec/aemp-wire.md).
//
// # Nodes and ports
//
// A Node has an ID ("db/x7Q…"); a port has an ID "NODE#NAME", made by
// Port and never reused. Anyone may Send to a port ID: a list of simple
// values (strings, numbers, booleans, nil, byte strings, lists, string-keyed
// maps), by convention starting with a tag. Send never waits for the
// network and never fails; a message to a port that does not exist vanishes.
// Messages from one sender to one port arrive in the order sent.
//
//	n, _ := node.Start(ctx, node.Config{ID: "a", Binds: []string{"127.0.0.1:4040"}})
//	echo := n.Port(nil)
//	n.Rcv(echo, "ping", func(c *node.Context, args []any) error {
//		c.Send(args[0].(string), "pong") // args[0]: where to reply
//		return nil
//	})
//
// A port's callbacks run in its context (Context: Self, SrcNode, Send,
// Monitor, Wrap), one at a time: ports are data, not goroutines, and the
// callbacks of the ports run on a few executor goroutines, as AnyEvent::MP's
// run on one event loop. Callbacks must return promptly; code that blocks
// belongs in a process (Go), which has a goroutine and a mailbox of its own
// and receives selectively. A callback that returns an error or panics kills
// its port with reason "die".
//
// # Death and monitors
//
// A port dies by Kill (no reason: normal; a reason: abnormal), by a failing
// callback, or by a message it has no handler for ("unhandled_message").
// Monitor watches a port and acts once when it dies — call a function, kill
// another port (on abnormal deaths only), or send a message — with the
// reason. Monitoring a port that died recently (one of the node's last 256
// deaths) fires with the reason it died of; monitoring a missing port fires
// at once ("no_such_port"); monitoring a node ID fires when the link to it
// is lost. A killed port takes no more messages from the moment Kill
// returns, handles those already queued, then dies.
//
// No silent holes: when the link to a node fails, its queue is dropped and
// every monitor on a port of that node fires with "transport_error" before
// anything more is sent there. So for a monitored port either every message
// arrives, or the monitor fires. A message that cannot travel (a value
// outside the model, a frame over the limits) fails the link the same way
// rather than vanish alone.
//
// # Spawn, Call, timers
//
// Register makes an init function spawnable by name; Spawn(node, name,
// args…) returns the new port's ID at once, and the init function runs on
// that node in the port's context to install its handlers. Call sends a
// message with a fresh reply port and waits for the reply, the target's
// death or its context: exactly once. After and AfterFunc run on the node's
// clock.
//
// # Links
//
// Nodes link on demand: the first Send or Monitor to a node whose addresses
// are known (AddNode) connects, in the background, with a persistent
// connection that re-resolves the addresses on each attempt. A link speaks
// AnyEvent::MP's protocol (package node/aemp): a greeting, HMAC-SHA3-512
// authentication with the shared secret (or TLS), then frames — CBOR or
// JSON with Perl nodes, msgpack and heartbeats between tether nodes. Each
// link has a bounded send queue and one writer goroutine that batches
// frames into few system calls. Its reader only checks each msgpack frame
// and finds the port it is for; the messages that arrived together for one
// port reach its executor as one block of bytes, still encoded, in buffers
// that are read into again once the executor has decoded them, so decoding
// runs in parallel with reading and a busy link allocates little. A
// received message's values are
// carved out of shared slabs a few kilobytes at a time: a message kept for
// long keeps its chunks alive, so copy what you keep in bulk. When two
// nodes connect to each other at once, the node with the smaller ID lets
// only one of the two connections through, so that one link results on
// both sides and no monitor fires.
//
// # Determinism
//
// A node takes its clock, randomness and network (Config.Transport) from
// its Config, so test/sim can run several nodes over a simulated network in
// one test, with faults, and the same seed gives the same run.
package node
