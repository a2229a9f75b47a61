package simtest_test

import (
	"testing"

	"github.com/tetherkit/tether/test/sim"
)

// TestScenario runs the scenario over seeds 1–100 and 20 random ones; see
// the package documentation for flags.
func TestScenario(t *testing.T) {
	sim.Run(t, sim.Seeds{First: 1, Count: 100, Random: 20}, netConfig, func(t *testing.T, n *sim.Network) {
		scenario(t, n, newChecker())
	})
}
