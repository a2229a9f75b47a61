package addr

import (
	"net"
	"slices"
	"testing"

	"github.com/tetherkit/tether/clock"
)

// firstCounts orders set n times and counts which target comes first.
func firstCounts(set []net.SRV, seed uint64, n int) map[string]int {
	r := clock.NewRand(seed)
	counts := map[string]int{}
	for range n {
		counts[orderSRV(set, r)[0].Target]++
	}
	return counts
}

// within reports whether got is within tol of want.
func within(got, want, tol int) bool { return got >= want-tol && got <= want+tol }

// With a weight-0 record present, RFC 2782 draws from [0, sum]: weights
// 90, 10 and 0 lead with probabilities 90/101, 10/101 and 1/101.
func TestOrderSRVWeightZeroGetsSmallChance(t *testing.T) {
	set := []net.SRV{
		{Target: "x", Priority: 1, Weight: 90},
		{Target: "y", Priority: 1, Weight: 10},
		{Target: "z", Priority: 1, Weight: 0},
	}
	const n = 101000
	c := firstCounts(canonical(set), 1, n)
	// Standard deviations: about 99, 95 and 31.
	if !within(c["x"], 90000, 600) || !within(c["y"], 10000, 600) || !within(c["z"], 1000, 200) {
		t.Fatalf("first-choice counts %v of %d, want about x 90000, y 10000, z 1000", c, n)
	}
}

// Without weight-0 records the choice is exactly proportional to weight:
// 3 to 1 leads 75% of the time (the RFC's literal [0, sum] draw would give
// the first record 80%).
func TestOrderSRVProportionalToWeight(t *testing.T) {
	set := []net.SRV{
		{Target: "x", Priority: 1, Weight: 3},
		{Target: "y", Priority: 1, Weight: 1},
	}
	const n = 100000
	c := firstCounts(canonical(set), 2, n)
	// Standard deviation about 137.
	if !within(c["x"], 75000, 800) {
		t.Fatalf("first-choice counts %v of %d, want x about 75000", c, n)
	}
}

// A group of weight-0 records is ordered uniformly at random.
func TestOrderSRVAllZeroWeightsUniform(t *testing.T) {
	set := []net.SRV{{Target: "x"}, {Target: "y"}, {Target: "z"}}
	const n = 30000
	c := firstCounts(canonical(set), 3, n)
	// Standard deviation about 82.
	for _, k := range []string{"x", "y", "z"} {
		if !within(c[k], 10000, 500) {
			t.Fatalf("first-choice counts %v of %d, want about 10000 each", c, n)
		}
	}
}

// Every order is a permutation of the set, sorted by priority; the same
// seed gives the same orders.
func TestOrderSRVPermutationByPriority(t *testing.T) {
	set := canonical([]net.SRV{
		{Target: "a", Priority: 20, Weight: 5},
		{Target: "b", Priority: 10, Weight: 0},
		{Target: "c", Priority: 10, Weight: 7},
		{Target: "d", Priority: 30, Weight: 1},
		{Target: "e", Priority: 20, Weight: 0},
		{Target: "f", Priority: 10, Weight: 65535},
	})
	r1, r2 := clock.NewRand(9), clock.NewRand(9)
	for i := range 1000 {
		o := orderSRV(set, r1)
		if !slices.IsSortedFunc(o, func(a, b net.SRV) int { return int(a.Priority) - int(b.Priority) }) {
			t.Fatalf("order %d not by priority: %v", i, o)
		}
		if !slices.Equal(canonical(o), set) {
			t.Fatalf("order %d = %v, not a permutation of %v", i, o, set)
		}
		if o2 := orderSRV(set, r2); !slices.Equal(o, o2) {
			t.Fatalf("order %d differs for the same seed: %v and %v", i, o, o2)
		}
	}
}

func TestCanonicalSRV(t *testing.T) {
	got := canonicalSRV([]*net.SRV{
		{Target: "b.test.", Port: 2, Priority: 1, Weight: 1},
		{Target: ".", Port: 0, Priority: 0, Weight: 0},
		{Target: "a.test.", Port: 9, Priority: 2, Weight: 1},
		{Target: "a.test.", Port: 1, Priority: 1, Weight: 1},
		{Target: "b.test.", Port: 2, Priority: 1, Weight: 1},
		nil,
	})
	want := []net.SRV{
		{Target: "a.test", Port: 1, Priority: 1, Weight: 1},
		{Target: "b.test", Port: 2, Priority: 1, Weight: 1},
		{Target: "a.test", Port: 9, Priority: 2, Weight: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("canonicalSRV = %v, want %v", got, want)
	}
}

// canonical sorts a set as canonicalSRV does.
func canonical(set []net.SRV) []net.SRV {
	ptrs := make([]*net.SRV, len(set))
	for i := range set {
		ptrs[i] = &set[i]
	}
	return canonicalSRV(ptrs)
}
