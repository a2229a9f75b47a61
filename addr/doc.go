// Package addr answers the question a persistent connection asks before
// every attempt: where to connect next.
//
// # Re-resolve on every attempt
//
// A [Resolver] has one method, Resolve(ctx). A persistent connection calls it
// at the start of each connection attempt, not once at start-up, and dials
// whatever it returns. So a service that moves to another host, or a replica
// that is added or removed, is picked up by the next attempt without
// restarting anything, and a resolver that answers with a different replica
// on each call gives failover for free: when the attempt to one replica
// fails, the retry goes to the next.
//
// # Failover by rotation
//
// The resolvers here rotate rather than pick at random. [List] hands out its
// addresses in order, wrapping around; [File] does the same with a catalog
// file it re-reads when the file changes. The DNS resolvers, [SRV] and
// [Host], look the name up on every call and keep a cursor into an ordering
// of the answer: each call returns the next entry, and when the cursor runs
// off the end (or the answer changes) a fresh ordering starts from its head.
// Consecutive attempts therefore go to different replicas until every one
// has been tried (best first, for SRV), whatever made the attempts fail, and
// a dead replica costs one attempt per cycle rather than a stuck loop. A
// resolver shared by several connections shares its rotation between them.
// [Static] is the degenerate case: one address, no failover.
//
// # Determinism
//
// Randomness enters only through an injected [clock.Rand]. SRV records of
// equal priority are ordered by RFC 2782's weighted random selection, drawn
// from SRV.Rand after sorting the records canonically, so the standard
// library's unseedable shuffle never shows: with the same seed and the same
// DNS answers, the same sequence of addresses comes out, which is what lets
// tether's simulation replay a run. Lists, files and host lookups involve no
// randomness at all.
//
// # Catalog files
//
// A catalog is a JSON array of addresses, such as
//
//	["127.0.0.1:7001", "127.0.0.1:7002"]
//
// (any type encoding/json can decode will do as an address). Redundant
// servers publish themselves by writing it: on start a server reads the
// catalog with [ReadFile], adds its own address and writes it back with
// [WriteFile]; on a clean shutdown it removes itself the same way. WriteFile
// replaces the file atomically (temporary file, then rename), so clients
// never read half a catalog; servers that may update it at the same moment
// must still take turns, for example under a lock file. Clients point a
// [File] at the catalog. A missing, unreadable, oversized, malformed or empty
// catalog is reported as an error on each Resolve until it is fixed, rather
// than papered over with the last good list.
//
// # Errors and cancellation
//
// Every resolver in this package returns an [*Error] that names it and wraps
// the cause: [ErrNoAddresses], [ErrTooLarge], [ErrMalformed], a
// *net.DNSError, an *fs.PathError, or ctx.Err() when the context was done
// before or during the call. Use errors.Is and errors.As to inspect them.
package addr
