package simtest_test

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/tetherkit/tether/test/sim"
)

var (
	flagDetSeeds  = flag.Int("det.seeds", 20, "seeds TestDeterminism runs")
	flagDetReruns = flag.Int("det.reruns", 20, "runs of each seed at each GOMAXPROCS in TestDeterminism")
)

// TestDeterminism: the scenario, with every fault kind, gives one trace
// per seed — byte for byte, unsorted: every network event and every line
// the nodes log, in the order they happened — over -det.reruns runs at
// GOMAXPROCS 1 and 8 each; and different seeds give different traces.
func TestDeterminism(t *testing.T) {
	seeds, reruns := *flagDetSeeds, *flagDetReruns
	if testing.Short() || raceEnabled {
		// Under the race detector a run takes ten times as long; the
		// full count runs without it.
		seeds, reruns = min(seeds, 3), min(reruns, 2)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	hashes := make(map[string]uint64)
	kinds := []string{" partition ", " heal ", " reset ", " latency ", " skew ", " crash ", " restart ", " drop-data ", " rst ", "monitor fired", "killed:", "deadline exceeded"}
	seen := make(map[string]bool)
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		var first []string
		distinct := map[string]int{}
		for _, procs := range []int{1, 8} {
			runtime.GOMAXPROCS(procs)
			for run := range reruns {
				trace := runTrace(t, seed)
				h := hash(trace)
				distinct[h]++
				if first == nil {
					first = trace
					all := strings.Join(trace, "\n")
					for _, k := range kinds {
						seen[k] = seen[k] || strings.Contains(all, k)
					}
					continue
				}
				if len(distinct) > 1 {
					a, _ := writeLines(t, fmt.Sprintf("seed%d-first", seed), first)
					b, _ := writeLines(t, fmt.Sprintf("seed%d-other", seed), trace)
					t.Fatalf("seed %d, GOMAXPROCS %d, run %d: the trace differs from the first run's (%d events vs %d; %s, %s):\n%s",
						seed, procs, run, len(trace), len(first), a, b, diff(first, trace))
				}
			}
		}
		h := hash(first)
		if other, ok := hashes[h]; ok {
			t.Errorf("seeds %d and %d gave the same trace", other, seed)
		}
		hashes[h] = seed
		t.Logf("seed %d: %d runs, %d distinct trace (%s, %d events)", seed, 2*reruns, len(distinct), h, len(first))
	}
	for _, k := range kinds {
		if !seen[k] {
			t.Errorf("no seed's trace has %q: the scenario proves less than it should", strings.TrimSpace(k))
		}
	}
}

// writeLines writes a trace to a file in $TMPDIR, for a closer look.
func writeLines(t *testing.T, name string, lines []string) (string, error) {
	f, err := os.CreateTemp("", "simtest-"+name+"-*.trace")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	return f.Name(), err
}

// runTrace runs the scenario with seed and returns its trace.
func runTrace(t *testing.T, seed uint64) []string {
	var trace []string
	cfg := netConfig
	cfg.Seed = seed
	cfg.OnEvent = func(e sim.Event) { trace = append(trace, e.String()) }
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) { scenario(t, n, newChecker()) })
	return trace
}

func hash(trace []string) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte(strings.Join(trace, "\n"))))[:16]
}

// diff shows the first difference between two traces, with some context.
func diff(a, b []string) string {
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	var s strings.Builder
	for j := max(0, i-5); j < i; j++ {
		fmt.Fprintf(&s, "  %s\n", a[j])
	}
	for j := i; j < min(i+5, len(a)); j++ {
		fmt.Fprintf(&s, "- %s\n", a[j])
	}
	for j := i; j < min(i+5, len(b)); j++ {
		fmt.Fprintf(&s, "+ %s\n", b[j])
	}
	return s.String()
}
