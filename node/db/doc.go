// Package db is the registry protocol of AnyEvent::MP 2.x — seeds, global
// nodes, masters and the distributed database — as a pure state machine,
// for package node to drive.
//
// # The model
//
// The registry is a two-level map, family → key → value. Every entry is
// owned by the node that set it; a node's entries are its "local
// database". Global nodes hold the whole registry: one shard per node that
// registered with them (a slave), one per other global node (what that
// global holds for itself and its slaves), their own, and the merged view
// of all of them. Every other node has a master, a global it sends its
// local database to (g_slave) and every change after (g_upd), and asks
// its queries (g_db_family, g_db_keys, g_db_values, g_find) and its family
// monitors (g_mon1, answered with g_chg1 and then g_chg2 for every change).
// Globals form a full mesh, and each passes the changes of its own and its
// slaves' entries on to the others, so every global holds the same view.
//
// A node becomes global when it finds itself in its seed list or when
// another node sends it g_slave. A node that is not global picks as master
// the linked seed first in its seed list, and another when that one goes
// down, sending it everything again. A node without seeds is its own
// master: alone, it answers its queries from its own entries.
//
// When a slave's link to its global goes down, the global drops the
// slave's entries at once and tells the monitors. When another global's
// link goes down, its entries stay for a grace period, long enough for
// its slaves to register elsewhere, so that a global's death shows as the
// deletion of the entries of the nodes that died with it and nothing else.
//
// A key that several nodes set has, in the merged view, the smallest of
// their values (in a total order of values), which every global computes
// alike; AnyEvent::MP leaves it undefined.
//
// # The state machine
//
// [State] takes inputs — a link up or down (Up, Down; each connection has
// a token, so that frames read from a connection that has gone are
// ignored), a g_* frame (Receive), a seed identified (Seed), local calls
// (Set, Del, Query, Find, Monitor) and timers (Expire) — and produces
// [Effects]: frames to send, changes for the monitors on this node,
// answers, timers to arm, links to keep. It does no I/O, reads no clock
// and starts no goroutine, so its tests drive several States against each
// other, step by step, under every interleaving a seed draws
// (TestConvergence). [Store] is its data structure: shards and the merged
// view, with the diffs of every change.
package db
