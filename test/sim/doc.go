// Package sim is a simulated network for tests: named hosts that listen and
// dial over in-memory connections that behave like TCP where it matters, with
// delays, partitions and resets on demand, and the same trace for the same
// seed.
//
// # The model
//
// A [Network] holds hosts, made on first use by [Network.Host]. A host's
// Listen and Dial return a net.Listener and net.Conns, addressed
// "host:port" ([Addr], network "sim"); a dialer's local port counts up from
// 49152 on each host. A connection is an ordered, reliable byte stream each
// way: Write returns once its bytes are queued, Read returns what has
// arrived, Close sends a FIN after the data already written so that the peer
// reads io.EOF once drained, and data sent to a closed end brings back an
// RST (ECONNRESET). Each direction holds at most Config.Window bytes in
// flight plus unread, so a writer with no reader blocks, as with TCP's
// buffers and unlike net.Pipe. Deadlines work as on sockets, on the network's
// clock. Errors are *net.OpError values wrapping what TCP would give:
// syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EADDRINUSE,
// net.ErrClosed, os.ErrDeadlineExceeded.
//
// Writes, Closes and dials become segments (SYN, SYN-ACK, data, FIN, RST)
// that travel with a one-way latency drawn from [Latency] (per pair of hosts
// with [Network.SetLatency]) and never overtake each other within one
// direction of one connection. One scheduler goroutine delivers them. It
// sleeps on the clock until the earliest segment is due, calls
// Config.Quiesce so that everything else that woke at that instant runs
// until it blocks, delivers that one segment, and repeats. Segments due at
// the same instant go in a fixed order — connection number (1, 2, … in Dial
// order), direction, sequence — that does not depend on which goroutine
// wrote first, and each direction draws its latencies from its own random
// stream derived from Config.Seed. Data written at the instant the previous
// data segment of its direction was sent joins that segment, so how a
// program splits its writes within one instant (a batching writer
// goroutine's choice, say) changes neither the segments nor the trace.
//
// # Determinism
//
// Run inside a testing/synctest bubble with Quiesce set to synctest.Wait —
// which [Test] does — the bubble's fake clock moves only when every
// goroutine is blocked, and the scheduler orders every delivery, so the same
// seed and the same program give the same [Event] trace (Config.OnEvent),
// on any GOMAXPROCS. What the network cannot order is what happens outside
// it: goroutines that wake at the same instant for other reasons (timers,
// your own channels) run in any order, so if two of them dial at once the
// connection numbers depend on the race, and two goroutines writing to one
// connection at once interleave their Writes in any order. Give such
// components their own random delays (from [Network.Rand]) or serialize
// them. A goroutine woken by a timer at instant T runs before the deliveries
// due at T; call [Network.Wait] to let those happen. Inside [Test], never call
// synctest.Wait yourself: the scheduler does, and two concurrent calls are
// not allowed; [Network.Wait] is its replacement.
//
// Made with [New] outside a bubble, on the real clock and without Quiesce,
// the network is still correct (it passes golang.org/x/net/nettest's
// conformance suite) but not deterministic.
//
// # Faults
//
//   - [Network.Partition] and [Network.PartitionOneWay] cut delivery; every
//     segment arriving on a cut direction vanishes silently. A connection
//     that lost a segment stays silent in that direction for good, as if TCP
//     never got its retransmissions through, so streams never have holes;
//     lost handshake segments are retransmitted like TCP's, so a Dial can
//     outlast a short cut. [Network.Heal] and [Network.HealAll] restore
//     delivery for what is sent from then on.
//   - [Network.Reset] breaks every connection between two hosts at once:
//     both ends get ECONNRESET.
//   - [Network.SetLatency] changes delays; Config.Window and Config.Backlog
//     bound buffers and pending connections (a full backlog refuses).
//   - [Network.After] runs a fault on the scheduler at a set time, ordered
//     with the deliveries: a schedule of faults is part of the trace.
//
// # Usage
//
//	func TestFailover(t *testing.T) {
//		sim.Test(t, sim.Config{Seed: 1, Latency: sim.Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}},
//			func(t *testing.T, n *sim.Network) {
//				l, _ := n.Host("server").Listen(":80")
//				go serve(l)
//				client := newClient(n.Host("client").DialContext, n.Clock(), n.Rand("client"))
//				n.After(time.Second, func() { n.Partition("client", "server") })
//				n.After(5*time.Second, func() { n.HealAll() })
//				n.Clock().Sleep(10 * time.Second) // fake time: returns at once
//				// … assert on the client's state
//			})
//	}
//
// Every goroutine blocked in the network returns when the network is closed
// ([Test] closes it when the function returns), so the bubble can end.
package sim
