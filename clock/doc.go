// Package clock is tether's single source of time and randomness.
//
// Nothing else in tether calls time.Now, time.Sleep, time.After or the global
// math/rand. Every component takes a [Clock] and a [*Rand] instead, so a whole
// program — persistent connections, RPC heartbeats, nodes — can run on a fake
// clock with a fixed seed and produce the same trace every time.
//
// # Time
//
// [Clock] is clockwork's interface: [Real] is the wall clock, [NewFake] a
// clock that moves only when a test advances it. Inside a testing/synctest
// bubble the real clock is already fake, which is how the test/sim harness
// runs many nodes at once.
//
// Contexts with deadlines must run on the same clock as everything else.
// [WithTimeout] and [WithDeadline] do that for any Clock and behave like their
// context-package counterparts: Err is nil until Done is closed, then
// context.DeadlineExceeded or context.Canceled; children derived with the
// context package see the same error. On the real clock they are exactly
// context.WithDeadline. [Sleep] waits on the clock or until a context ends.
//
// # Randomness
//
// [Rand] is a seeded PCG generator that is safe for concurrent use. A program
// starts from one root seed and hands each component its own stream with
// [Rand.Derive]; because a derived stream depends only on the seed and the
// name, adding a component or drawing more numbers in one place never changes
// the numbers drawn elsewhere. [Rand.Jitter] spreads a delay uniformly over
// d ± f·d, the randomized retry delay used throughout tether.
package clock
