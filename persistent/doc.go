// Package persistent keeps a connection to a server up: it connects, and
// whenever the connection dies it connects again, possibly to another
// address, waiting a randomized delay between attempts. Its behaviour follows
// Jane Street Async's Persistent_connection, with the differences listed
// below; its acceptance cases are the tests in acceptance_test.go.
//
// # Model
//
// A [Conn] is generic over the address type A (what an [addr.Resolver]
// returns) and the connection type C (anything with Close and Done; see
// [Connection]). It runs one goroutine that goes through cycles:
//
//	AttemptingToConnect
//	attempt: resolve ─ ObtainedAddress ─ connect ─┬─ FailedToConnect ─ wait ─ attempt …
//	                                               └─ Connected ─ (connection dies) ─ Disconnected
//	wait, then the next cycle
//
// Every attempt calls the resolver first, so a resolver that rotates through
// replicas gives failover. ObtainedAddress is reported only when the address
// differs from the previous one of the same cycle, and FailedToConnect only
// when the error (compared by message) differs from the previous one: a
// server that stays down is reported once per cycle, not once per attempt.
//
// # Timing
//
// Each attempt starts a timer when it starts, for the retry delay: the
// policy's delay for the number of consecutive failures so far, randomized
// by ±30% ([DefaultJitter]) with the injected random source. The next attempt
// starts when that timer fires, so the delay throttles the starts of attempts
// and a slow attempt eats into it. When a connection dies the persistent
// connection waits for the timer of the attempt that made it: a connection
// that lived long reconnects at once, one that died young waits out the rest
// of its delay. The default delay is 10 s; [Exponential] adapts backoff/v4.
// All waiting uses the injected clock, so under a fake clock nothing retries
// until the clock is advanced.
//
// # Events
//
// Events (package event) go first to subscribers ([Conn.Subscribe]; a late
// subscriber first receives the most recent event), then to Config.OnEvent,
// which is awaited: the persistent connection takes no step until it
// returns. The first attempt waits for the AttemptingToConnect handler, and
// Disconnected is reported only after the Connected handler has returned. A
// panic in a handler, the resolver or Connect is recovered, logged and
// passed to Config.OnPanic; in the resolver or Connect it fails the attempt.
//
// # Queries and closing
//
// [Conn.Connected] waits for a usable connection; [Conn.ConnectedOrFailedToConnect]
// returns the current connection or the outcome of the next attempt;
// [Conn.CurrentConnection] never waits. [Conn.Close] stops everything and
// waits until the current connection has finished closing; afterwards the
// queries return [ErrClosed]. [Conn.CloseWhenCurrentConnectionIsClosed] lets
// the current connection live but closes instead of reconnecting. An attempt
// can give up on the whole persistent connection with [Attempt.Abort].
//
// # Where Go differs from the reference
//
//   - Connected returns ErrClosed once closing has started (the reference
//     waits forever), and every waiting query takes a context.
//   - Close cancels the context of an attempt in progress, so a Connect that
//     honours its context does not hold Close up; the attempt is still waited
//     for, and a connection it returns anyway is reported and then closed.
//   - New validates its Config and returns a *ConfigError.
package persistent
