package sim

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tetherkit/tether/clock"
)

// The flags of Run, in every test binary that imports this package.
var (
	flagSeed   = flag.String("sim.seed", "", "run only this `seed` in sim.Run")
	flagSeeds  = flag.Int("sim.seeds", 0, "run `N` random seeds in sim.Run instead of the test's own")
	flagReplay = flag.String("sim.replay", "", "replay the trace `file` a failing sim.Run wrote: run its seed and compare")
	flagTrace  = flag.Bool("sim.trace", false, "log the full trace of every run of sim.Run")
)

// Seeds are the seeds Run tries when the command line names none: the
// Count seeds from First on, then Random seeds drawn afresh each time.
type Seeds struct {
	First  uint64
	Count  int
	Random int
}

// list returns the seeds to run: the command line's, or s's.
func (s Seeds) list() ([]uint64, error) {
	switch {
	case *flagReplay != "":
		seed, err := readTraceSeed(*flagReplay)
		if err != nil {
			return nil, err
		}
		return []uint64{seed}, nil
	case *flagSeed != "":
		seed, err := strconv.ParseUint(*flagSeed, 0, 64)
		if err != nil {
			return nil, fmt.Errorf("-sim.seed %q: %w", *flagSeed, err)
		}
		return []uint64{seed}, nil
	case *flagSeeds > 0:
		return randomSeeds(*flagSeeds), nil
	}
	seeds := make([]uint64, 0, s.Count+s.Random)
	for i := range s.Count {
		seeds = append(seeds, s.First+uint64(i))
	}
	return append(seeds, randomSeeds(s.Random)...), nil
}

func randomSeeds(k int) []uint64 {
	seeds := make([]uint64, k)
	for i := range seeds {
		seeds[i] = clock.RandomSeed()
	}
	return seeds
}

// Run runs f in a simulation (see Test) once per seed, each in a subtest
// "seed=N" with cfg.Seed set to N. The subtests run in parallel: f must
// share nothing between runs but what is safe for concurrent use. Which
// seeds: by default those of seeds; the command line changes that:
//
//	-sim.seed N     only seed N
//	-sim.seeds K    K random seeds instead of seeds
//	-sim.replay F   the seed of the trace file F, comparing the trace with F's
//	-sim.trace      log every run's trace
//
// Run records every run's trace (its events, see Config.OnEvent, which it
// still calls). A run that fails writes its trace to a file in $TMPDIR and
// logs the file and the command that replays it; at the end Run logs
// the failing seeds. A replay fails at the first event that differs from
// the file's, so it also tells whether a change altered the run.
func Run(t *testing.T, seeds Seeds, cfg Config, f func(t *testing.T, n *Network)) {
	t.Helper()
	list, err := seeds.list()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	if *flagReplay != "" {
		if want, err = readTrace(*flagReplay); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var failed []uint64
	t.Cleanup(func() {
		if len(failed) > 0 {
			t.Logf("sim: %d of %d seeds failed: %s", len(failed), len(list), joinSeeds(failed))
		}
	})
	for _, seed := range list {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			var trace []Event
			c := cfg
			c.Seed = seed
			c.OnEvent = func(e Event) {
				trace = append(trace, e)
				if cfg.OnEvent != nil {
					cfg.OnEvent(e)
				}
			}
			// In a cleanup: when the run fails, Test ends the subtest.
			t.Cleanup(func() { finish(t, seed, trace, want, &mu, &failed) })
			Test(t, c, f)
		})
	}
}

// finish checks a replay against the file's trace, logs the trace if
// asked, and writes the trace of a failed run to a file.
func finish(t *testing.T, seed uint64, trace []Event, want []string, mu *sync.Mutex, failed *[]uint64) {
	t.Helper()
	if want == nil && !*flagTrace && !t.Failed() {
		return
	}
	lines := make([]string, len(trace))
	for i, e := range trace {
		lines[i] = e.String()
	}
	if want != nil {
		if i, ok := firstDifference(want, lines); !ok {
			t.Errorf("sim: the replay differs from %s at event %d:\n\tthen: %s\n\tnow:  %s",
				*flagReplay, i+1, lineAt(want, i), lineAt(lines, i))
		}
	}
	if *flagTrace {
		t.Logf("sim: trace of seed %d:\n\t%s", seed, strings.Join(lines, "\n\t"))
	}
	if !t.Failed() {
		return
	}
	mu.Lock()
	*failed = append(*failed, seed)
	mu.Unlock()
	path, err := writeTrace(t, seed, lines)
	if err != nil {
		t.Logf("sim: seed %d failed; writing its trace: %v", seed, err)
		return
	}
	t.Logf("sim: seed %d failed; its trace (%d events) is in %s\n\treplay: %s", seed, len(lines), path, replayCommand(t, path))
}

// The trace file: a header of "# key: value" lines, then one event per line.
const traceMagic = "# tether test/sim trace"

func writeTrace(t *testing.T, seed uint64, lines []string) (string, error) {
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	f, err := os.CreateTemp("", "sim-"+name+"-*.trace")
	if err != nil {
		return "", err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "%s\n# test: %s\n# seed: %d\n", traceMagic, t.Name(), seed)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

// readTrace returns the events of a trace file.
func readTrace(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(string(data), traceMagic+"\n") {
		return nil, fmt.Errorf("%s is not a test/sim trace", path)
	}
	lines := []string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !strings.HasPrefix(l, "# ") {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// readTraceSeed returns the seed a trace file records.
func readTraceSeed(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() && strings.HasPrefix(s.Text(), "# ") {
		if v, ok := strings.CutPrefix(s.Text(), "# seed: "); ok {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, errors.Join(fmt.Errorf("%s records no seed", path), s.Err())
}

// replayCommand is the go test command line that replays the trace file.
func replayCommand(t *testing.T, path string) string {
	top, _, _ := strings.Cut(t.Name(), "/")
	cmd := fmt.Sprintf("go test -run '^%s$' -sim.replay %s", regexp.QuoteMeta(top), path)
	if pkg := packageDir(); pkg != "" {
		cmd = fmt.Sprintf("go test %s -run '^%s$' -sim.replay %s", pkg, regexp.QuoteMeta(top), path)
	}
	return cmd
}

// packageDir is the directory go test runs the test in, relative to its
// module's root ("./test/simtest"), or "" if that cannot be told.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil {
				return ""
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// firstDifference returns the index of the first line where a and b
// differ, and false; or true if they are equal.
func firstDifference(a, b []string) (int, bool) {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i, false
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b)), false
	}
	return 0, true
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(the end)"
}

func joinSeeds(seeds []uint64) string {
	s := make([]string, len(seeds))
	for i, x := range seeds {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, " ")
}
