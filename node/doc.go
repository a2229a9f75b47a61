// Package node is an Erlang-style message layer: nodes with IDs, ports
// (cheap message endpoints), asynchronous Send, tag handlers, Kill with
// reasons, monitors, Spawn of registered functions on other nodes, Call,
// timers, processes with selective receive, seeds and global nodes that
// let a network find itself, and a distributed registry. Its model and its
// wire protocol are AnyEvent::MP 2.x's, so a Go node can join a network of
// Perl AnyEvent::MP nodes.
//
// # Nodes and ports
//
// A Node has an ID ("db/x7Q…"); a port has an ID "NODE#NAME", made by
// Port and never reused. Anyone may Send to a port ID: a list of simple
// values (strings, numbers, booleans, nil, byte strings, lists, string-keyed
// maps), by convention starting with a tag. Send never waits for the
// network, and fails only for a message that cannot travel (a value outside
// the model, a frame over the limits), which then goes nowhere; a message
// to a port that does not exist vanishes. Messages from one sender to one
// port arrive in the order sent, and a port sees the same Go types whether
// the sender was local or remote.
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
// arrives, or the monitor fires.
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
// Nodes link on demand: the first Send or Monitor to a node connects, in
// the background, with a persistent connection that resolves the node's
// address on each attempt — the addresses AddNode gave, or else those the
// node published in the registry (below), asked of the master every time,
// so that any node can reach any other by its ID alone, and a node that
// moved is found where it is now. A link that does not come up within
// Config.ConnectTimeout fails ("connect timeout", or "no known address"
// when the registry knows none). A link speaks AnyEvent::MP's protocol
// (package node/aemp): a greeting, HMAC-SHA3-512 authentication with the
// shared secret (or TLS), then frames — CBOR or JSON with Perl nodes,
// msgpack and heartbeats between tether nodes. Each link has a bounded
// send queue and one writer goroutine that batches frames into few system
// calls. A node sends the heartbeats of all its links together, once per
// Config.Heartbeat, so that an idle network wakes once per interval, not
// once per link; a link that hears nothing for Config.HeartbeatTimeout
// fails ("heartbeat timeout"). Its reader only checks each msgpack frame and finds the port it
// is for; the messages that arrived together for one port reach its
// executor as one block of bytes, still encoded, in buffers that are read
// into again once the executor has decoded them, so decoding runs in
// parallel with reading and a busy link allocates little. A received
// message's values are carved out of shared slabs a few kilobytes at a
// time: a message kept for long keeps its chunks alive, so copy what you
// keep in bulk. When two nodes connect to each other at once, the node
// with the smaller ID lets only one of the two connections through, so
// that one link results on both sides and no monitor fires.
//
// # Seeds and global nodes
//
// A network finds itself through seeds: Config.Seeds lists the addresses
// of a few nodes that every node keeps a link to (retrying with
// AnyEvent::MP's backoff, 0.6–1.2 s doubling up to 30 s, and again
// whenever a link to a seed goes down). A seed becomes a global node when
// it finds itself in its own seed list, or when another node asks it to
// (g_slave). Global nodes link to each other in a full mesh and each holds
// the whole registry; every other node has a master, the linked seed that
// comes first in its seed list, which it sends its entries to and asks its
// questions of, and replaces when the link to it goes down.
//
//	seed, _ := node.Start(ctx, node.Config{ID: "seed", Binds: []string{"10.0.0.1:4040"},
//		Seeds: []string{"10.0.0.1:4040"}, Secret: s}) // finds itself: global
//	w, _ := node.Start(ctx, node.Config{ID: "worker/", Binds: []string{":0"},
//		Seeds: []string{"10.0.0.1:4040"}, Secret: s})
//
// Two or more seeds make the registry survive one's death. A node without
// seeds is its own registry (it answers its own queries) until another
// node registers with it. A node without binds is private: it publishes
// no address, so other nodes reach it only over links it made.
//
// # The registry
//
// The registry is a distributed map, family → key → value, that every node
// reads and watches. Each entry is owned by the node that set it and
// disappears when that node deletes it, dies, or loses its link to the
// global nodes. DBSet sets an entry (its guard deletes it again), DBReg
// registers a local port under its ID and deletes it when the port dies —
// the way to publish a service:
//
//	n.DBReg("image_scalers", n.Port(scale), nil)
//
// DBFamily, DBKeys and DBValues read a family in one round trip to the
// master. DBMon watches one: its callback gets the whole family first
// (even if empty), then every change as the keys added, changed and
// deleted, and never the same change twice — a worker pool's master finds
// its workers this way, and forgets them when they die:
//
//	n.DBMon("image_scalers", func(c node.DBChange) {
//		for _, w := range c.Added { pool.add(w) }
//		for _, w := range c.Deleted { pool.remove(w) }
//	})
//
// Family names are a letter followed by letters, digits, '_' and ':';
// keys are non-empty strings; values are messages' values. The families
// starting with ' are the registry's own: 'l holds every node's listen
// addresses and 'g the global nodes; they can be read, not set. A node
// owns at most Limits.DBKeys entries in at most Limits.DBFamilies
// families (its own 'l entry among them), and a global refuses a node's
// update past its own limits.
//
// The registry is eventually consistent: a change reaches the monitors on
// other nodes one or two hops later (through the master, and from one
// global to the others). When a global dies, its slaves register with
// another seed, and the entries it passed on stay for Config.ConnectTimeout
// so that the monitors see only the entries of the nodes that died with
// it go. A key that several nodes set has the smallest of their values, on
// every node (AnyEvent::MP leaves it undefined). Config.Registry replaces
// the global nodes with another backend behind the same calls (the
// Registry interface).
//
// # Mixed networks
//
// The global-node protocol is AnyEvent::MP 2.x's (g_slave, g_upd, g_set,
// g_find, g_db_*, g_mon1/g_chg1/g_chg2), so tether and Perl nodes share one
// network: Go nodes can be seeds and globals for Perl nodes and the other
// way round, each finds the other's services in the registry and reaches
// its nodes by ID. What differs: a tether node answers eval with an error;
// the merge rule above; tether's monitors report a new master's snapshot
// as a diff rather than again in full.
//
// # Determinism
//
// A node takes its clock, randomness and network (Config.Transport) from
// its Config, so test/sim can run several nodes over a simulated network in
// one test, with faults, and the same seed gives the same run.
package node
