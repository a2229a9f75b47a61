// Package sim is a deterministic simulation of a network for tests: named
// hosts with their own clocks that listen and dial over in-memory
// connections that behave like TCP where it matters, with delays,
// partitions, resets and crashes on demand, and the same trace for the same
// seed.
//
// # The model
//
// A [Network] holds hosts, made on first use by [Network.Host]. A host's
// Listen and Dial return a net.Listener and net.Conns, addressed
// "host:port" ([Addr], network "sim"); a dialer's local port counts up from
// 49152 on each host. [Host.Transport] has the shape of net.Listen and
// net.Dialer.DialContext (and so of node.Transport), [Host.DialContext] that
// of a dial function; [Host.Clock] is the host's clock and [Host.Rand] its
// random streams: give all three to what runs on the host. A connection is
// an ordered, reliable byte stream each way: Write returns once its bytes
// are queued, Read returns what has arrived, Close sends a FIN after the
// data already written so that the peer reads io.EOF once drained, and data
// sent to a closed end brings back an RST (ECONNRESET). Each direction holds
// at most Config.Window bytes in flight plus unread, so a writer with no
// reader blocks, as with TCP's buffers and unlike net.Pipe. Deadlines work
// as on sockets, on the host's clock. Errors are *net.OpError values
// wrapping what TCP would give: syscall.ECONNREFUSED, syscall.ECONNRESET,
// syscall.EADDRINUSE, syscall.ETIMEDOUT, net.ErrClosed,
// os.ErrDeadlineExceeded.
//
// Writes, Closes and dials become segments (SYN, SYN-ACK, data, FIN, RST)
// that travel with a one-way latency drawn from [Latency] (per pair of hosts
// with [Network.SetLatency]) and never overtake each other within one
// direction of one connection. Data written at the instant the previous
// data segment of its direction was sent joins that segment (or within
// [Network.SetNagle]'s delay), so how a program splits its writes within
// one instant — a batching writer goroutine's choice, say — changes neither
// the segments nor the trace.
//
// # Steps
//
// One scheduler goroutine drives the simulation in steps. Each step is one
// cause at one instant: a [Network.After] callback, a timer of a clock
// (the network's or a host's), a segment arriving at a host, or a wakeup
// moved out of another host's step. Between two steps the scheduler calls
// Config.Quiesce — synctest.Wait in [Test] — so that everything the step
// set off runs until it blocks; time moves only when nothing is due. Steps
// due at one instant go in a canonical order that does not depend on which
// goroutine did what first: callbacks (in After order), timers (by host
// name, then the order they were set on that host), segments (by
// connection, direction, sequence), wakeups (by connection and side). A
// connection's ID ([ConnID]) is its dialling host and the number of that
// dial on that host, so two hosts that dial at once get the same IDs on
// every run; each direction draws its latencies from its own random stream
// derived from Config.Seed and that ID.
//
// A step wakes the goroutines of one host only. A segment wakes what waits
// on its receiver; a change it makes at the sender (window space freed,
// say) wakes the sender in a step of its own at the same instant; a
// [Network.Reset] wakes each broken end in a step of its own. So the hosts
// never race with each other, and the events of one instant — the
// network's, and the lines a program logs with [Host.Logf] — come in the
// same order on every run, with no sorting.
//
// # Determinism
//
// Run inside a testing/synctest bubble with Quiesce set to synctest.Wait —
// which [Test] does — with every component taking its time from
// [Host.Clock] (or [Network.Clock]) and its randomness from [Host.Rand] (or
// [Network.Rand]), the same seed and the same program give the same [Event]
// trace (Config.OnEvent), on any GOMAXPROCS. What the scheduler cannot
// order is a program's own concurrency within one step on one host: two
// goroutines that one step wakes and that then race — to write one
// connection, to dial (their connection numbers swap), to set timers due
// at the same instant, to log — make the run depend on the race. Keep what
// a step sets off to one chain of goroutines, or make the racing parts
// commute. Timers of the bubble's own clock (time.Sleep, context.WithTimeout)
// work but fire outside the scheduler's order; use the simulated clocks. A
// goroutine woken by a timer at instant T runs before the segments due at
// T arrive; call [Network.Wait] to let those happen. Inside [Test], never
// call synctest.Wait yourself: the scheduler does, and two concurrent calls
// are not allowed; [Network.Wait] is its replacement.
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
//   - [Network.Crash] kills a host's running incarnation at one instant:
//     each of its connections sends an RST to its peer, its listeners and
//     timers stop, and nothing of it runs any more (its goroutines stay
//     blocked until the program closes what they wait on, or the network
//     closes). [Network.Host] then returns a new incarnation of the host,
//     whose [Host.Rand] streams differ from every earlier one's, so that a
//     restarted program does not repeat its predecessor's IDs.
//   - [Network.SetSkew] gives a host's clock an offset and a drift; the
//     host's timers and deadlines follow its clock.
//   - [Network.SetLatency] changes delays; Config.Window and Config.Backlog
//     bound buffers and pending connections (a full backlog refuses).
//   - [Network.After] runs a fault on the scheduler at a set time, ordered
//     with the other steps: a schedule of faults is part of the trace.
//
// Below TCP's promises, for a transport that does without them,
// [Host.ListenPacket] opens datagram sockets: each datagram travels alone,
// through the same latencies, partitions and crashes, and may be lost,
// duplicated ([Network.SetPacketFaults]) or overtaken by a later one.
//
// # Invariants
//
// [Network.Invariant] registers a check that the scheduler calls whenever
// the world is quiescent, after every step: the place to assert ordering,
// no holes, exactly-once delivery, convergence. The first check that fails
// stops the simulation at that step; [Test] fails the test with a
// [*Violation] that holds the step's trace.
//
// # Seeds and replay
//
// [Run] runs a simulation once per seed, in parallel subtests "seed=N", and
// records each run's trace. The workflow:
//
//	go test ./pkg -run '^TestX$'                  # the test's own seeds (say 1–100 and 20 random)
//	go test ./pkg -run '^TestX$' -sim.seeds 1000  # explore: 1000 random seeds
//	go test ./pkg -run '^TestX$' -sim.seed 17     # one seed, as often as you like
//
// A seed that fails is named in the log ("sim: seed 17 failed"), and its
// whole trace — every event of the network, and every line the program
// logged with [Host.Logf] — is written to a file in $TMPDIR, with the
// command that replays it:
//
//	go test ./pkg -run '^TestX$' -sim.replay /tmp/sim-TestX_seed_17-123.trace
//
// The replay runs the file's seed and compares its trace with the file's,
// event by event: it reports the first event that differs (a fix changed
// the run; or the program is not deterministic), or fails as the recorded
// run did. -sim.trace logs the trace of every run.
//
// # Usage
//
//	func TestFailover(t *testing.T) {
//		sim.Test(t, sim.Config{Seed: 1, Latency: sim.Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}},
//			func(t *testing.T, n *sim.Network) {
//				server, client := n.Host("server"), n.Host("client")
//				l, _ := server.Listen(":80")
//				go serve(l)
//				c := newClient(client.DialContext, client.Clock(), client.Rand("client"))
//				n.After(time.Second, func() { n.Partition("client", "server") })
//				n.After(5*time.Second, func() { n.HealAll() })
//				n.Clock().Sleep(10 * time.Second) // simulated time: returns at once
//				// … assert on the client's state
//			})
//	}
//
// Every goroutine blocked in the network returns when the network is closed
// ([Test] closes it when the function returns), so the bubble can end.
package sim
