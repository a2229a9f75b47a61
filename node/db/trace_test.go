package db

import (
	"os"
	"strconv"
	"testing"
)

// TestConvergenceTrace replays one seed of TestConvergence and, if it
// fails, prints everything that happened:
//
//	DB_SEED=17 go test ./node/db -run TestConvergenceTrace
func TestConvergenceTrace(t *testing.T) {
	s := os.Getenv("DB_SEED")
	if s == "" {
		t.Skip("set DB_SEED to a seed of TestConvergence")
	}
	seed, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("DB_SEED: %v", err)
	}
	convergence(t, seed, true)
}
