// Package event defines what a persistent connection reports about itself,
// and a small fan-out bus that carries such reports to any number of
// subscribers.
//
// A persistent connection goes through cycles. Each cycle begins with
// [AttemptingToConnect]; each attempt within it may report [ObtainedAddress]
// (the resolver named a new address) and then either [FailedToConnect] or
// [Connected]; a connection that dies reports [Disconnected], after which the
// next cycle begins. [Event] carries the kind and, depending on it, the
// address, the error or the connection.
//
// [Bus] delivers every published value to every subscriber, synchronously and
// in order. A subscriber that arrives late first receives the most recent
// value, so it learns the current state without racing the publisher. A
// subscriber that panics is reported and skipped; the others and the
// publisher carry on.
package event
