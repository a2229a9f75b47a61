package db

import "time"

// Effects is what the inputs given to a State since the last call of
// State.Effects ask the node to do. Each slice is in the order the State
// produced it; a node carries them out in the order of the fields: sends,
// then changes, answers, timers, keeps.
type Effects struct {
	Sends   []Send
	Changes []Change
	Answers []Answer
	Timers  []Timer
	Keeps   []Keep
}

// Empty reports whether there is nothing to do.
func (e *Effects) Empty() bool {
	return len(e.Sends)+len(e.Changes)+len(e.Answers)+len(e.Timers)+len(e.Keeps) == 0
}

// Send is a frame for another node's node port, to go out on the
// connection Token only: if that connection is no longer up, the frame is
// dropped (the protocol starts over on the next connection). Token is 0 if
// the State knows of no connection to To.
type Send struct {
	To    string
	Token uint64
	Frame []any
}

// Change is a change to a family monitored on this node (State.Monitor):
// either the family's whole content (Full; its keys and values in Data),
// as when monitoring starts or the master changes, or a delta (keys Set
// to new values, keys Deleted). Data and Set are the Change's own: no one
// changes them afterwards.
type Change struct {
	Family string
	Full   bool
	Data   map[string]any // with Full
	Set    map[string]any
	Del    []string
}

// Answer completes a query (State.Query) or a lookup (State.Find).
type Answer struct {
	ID      uint64
	Value   any   // map[string]any, []string or []any for queries; []string for a lookup
	Missing bool  // a lookup: the registry does not know the node
	Err     error // a malformed reply
}

// Timer asks for State.Expire(Node, Gen) to be called After from now.
type Timer struct {
	Node  string
	Gen   uint64
	After time.Duration
}

// Keep asks the node to keep a link to Node up (On) or to stop doing so:
// a global node keeps links to every global node it knows of.
type Keep struct {
	Node string
	On   bool
}
