package main

import "time"

// The coordinator drives its worker processes with one JSON command per line
// on their stdin; each command gets one JSON reply per line on their stdout.

// command is what the coordinator asks of a worker.
type command struct {
	Op string // start, link, stats, cpuprofile, expect, spread, pace, ping, quit

	// start: host nodes First … First+Count−1 of N, with Impl.
	Impl         string
	First, Count int
	N            int

	// link: every node's endpoint, by index; Parallel links made at once.
	All      []endpoint
	Parallel int

	// stats: HeapProfile, if set, is where to write a heap profile.
	HeapProfile string

	// cpuprofile: start a CPU profile into CPUProfile, or stop the one
	// running if it is empty.
	CPUProfile string

	// expect: the bench messages this worker's sinks will count next.
	Want int64

	// spread: each local node sends PerTarget messages to every other node.
	PerTarget int

	// pace: this worker sends Rate messages/s in all, spread over its nodes
	// and all their targets, for Warm+Dur; with Ping, its first node also
	// pings node PingTarget for the same time (ping: pings only).
	Rate       float64
	Warm, Dur  time.Duration
	Ping       bool
	PingTarget int
}

// endpoint is how to reach one node: its listen address, and for tether the
// IDs of its sink and echo ports.
type endpoint struct {
	Addr       string
	Sink, Echo string
}

// reply is a worker's answer; Err is set when the command failed.
type reply struct {
	Err string `json:",omitempty"`

	Endpoints []endpoint `json:",omitempty"` // start

	Heap, Stack uint64 // stats: heap in use after a GC, goroutine stacks
	Goroutines  int

	Sent, Received int64 // spread, pace: in the measured window for pace

	Pings    int     // ping, pace with Ping: round trips measured
	P50, P99 float64 // their percentiles, in µs
}
