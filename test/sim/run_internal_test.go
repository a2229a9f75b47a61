package sim

import (
	"context"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// setFlag sets a flag of Run for the rest of the test.
func setFlag(t *testing.T, name, value string) {
	t.Helper()
	old := flag.Lookup(name).Value.String()
	if err := flag.Set(name, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flag.Set(name, old) })
}

func TestSeedsFromTheCommandLine(t *testing.T) {
	s := Seeds{First: 5, Count: 3, Random: 2}
	got, err := s.list()
	if err != nil || len(got) != 5 || !slices.Equal(got[:3], []uint64{5, 6, 7}) {
		t.Fatalf("defaults: %v, %v", got, err)
	}
	if other, _ := s.list(); other[3] == got[3] && other[4] == got[4] {
		t.Fatalf("the random seeds are the same twice: %v, %v", got[3:], other[3:])
	}
	t.Run("seed", func(t *testing.T) {
		setFlag(t, "sim.seed", "12345678901234567890")
		if got, err := s.list(); err != nil || !slices.Equal(got, []uint64{12345678901234567890}) {
			t.Fatalf("-sim.seed: %v, %v", got, err)
		}
		setFlag(t, "sim.seed", "x")
		if _, err := s.list(); err == nil {
			t.Fatal("-sim.seed x: no error")
		}
	})
	t.Run("seeds", func(t *testing.T) {
		setFlag(t, "sim.seeds", "7")
		if got, err := s.list(); err != nil || len(got) != 7 || slices.Contains(got, 5) {
			t.Fatalf("-sim.seeds 7: %v, %v", got, err)
		}
	})
}

func TestTraceFile(t *testing.T) {
	lines := []string{"10ms syn a#1 a:49152>b:80", "20ms log a: hello # not a comment"}
	path, err := writeTrace(t, 42, lines)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	if seed, err := readTraceSeed(path); err != nil || seed != 42 {
		t.Fatalf("seed %d, %v", seed, err)
	}
	if got, err := readTrace(path); err != nil || !slices.Equal(got, lines) {
		t.Fatalf("lines %q, %v", got, err)
	}
	cmd := replayCommand(t, path)
	if want := "go test ./test/sim -run '^TestTraceFile$' -sim.replay " + path; cmd != want {
		t.Fatalf("replay command %q, want %q", cmd, want)
	}
	if _, err := readTrace("run.go"); err == nil {
		t.Fatal("a Go file read as a trace")
	}
	if i, same := firstDifference([]string{"a", "b"}, []string{"a", "c"}); same || i != 1 {
		t.Fatalf("firstDifference = %d, %v", i, same)
	}
	if i, same := firstDifference([]string{"a"}, []string{"a", "c"}); same || i != 1 {
		t.Fatalf("firstDifference of a prefix = %d, %v", i, same)
	}
}

// A trace that Run would write for a failing seed replays: -sim.replay
// runs the file's seed and finds the same events.
func TestRunReplaysATraceFile(t *testing.T) {
	var lines []string
	cfg := Config{Latency: Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}}
	cfg.OnEvent = func(e Event) { lines = append(lines, e.String()) }
	t.Run("record", func(t *testing.T) {
		setFlag(t, "sim.seed", "31")
		Run(t, Seeds{}, cfg, echoes)
	})
	if len(lines) < 10 {
		t.Fatalf("a trace of %d events", len(lines))
	}
	path, err := writeTrace(t, 31, lines)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	lines = nil
	t.Run("replay", func(t *testing.T) {
		setFlag(t, "sim.replay", path)
		Run(t, Seeds{First: 1, Count: 5}, cfg, echoes)
	})
	if len(lines) == 0 {
		t.Fatal("the replay ran nothing")
	}
}

// echoes is a small workload: echo servers and clients on three hosts.
func echoes(t *testing.T, n *Network) {
	l, err := n.Host("s").Listen(":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	for _, name := range []string{"a", "b"} {
		h := n.Host(name)
		c, err := h.Dial(context.Background(), "s:7")
		if err != nil {
			t.Fatal(err)
		}
		r := h.Rand("sizes")
		for range 5 {
			c.Write([]byte(strings.Repeat("x", 1+r.IntN(100))))
			h.Clock().Sleep(time.Duration(r.IntN(50)) * time.Millisecond)
		}
		c.Close()
	}
	n.Clock().Sleep(time.Second)
}
