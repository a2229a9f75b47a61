// Package simtest holds tether's whole-system simulation tests: five nodes
// on a simulated network (test/sim) under every fault the network knows —
// partitions both ways and one way, resets, latency changes, host crashes
// and restarts, skewed and drifting clocks — while they stream numbered
// messages to monitored ports and make calls, with invariants checked after
// every step of the simulation:
//
//   - per sender, messages arrive in order and at most once;
//   - no silent holes: a message is missing only if the sender's monitor on
//     the receiving port fired;
//   - every Call returns exactly once, with its own reply or an error, and
//     its request is handled at most once;
//   - no port ID is ever made twice, across restarts too.
//
// At the end, with the network healed, every stream whose monitor never
// fired has delivered everything, and every node answers every other.
//
// The package has no code of its own outside its tests. Run it with
//
//	go test ./test/simtest                        # 100 fixed seeds and 20 random ones
//	go test ./test/simtest -run TestScenario -sim.seeds 1000   # explore
//	go test ./test/simtest -run TestScenario -sim.seed 17      # one seed
//
// and see test/sim for the replay of a failing seed.
package simtest
