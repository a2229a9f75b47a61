package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// The whole demo, with its schedule compressed tenfold: it must tell the
// story of both failovers and the outage, with the summary, and then of two
// nodes exchanging messages until one is killed and the monitor fires.
func TestDemoTellsTheStory(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), &out, 0.1); err != nil {
		t.Fatalf("runDemo = %v\n%s", err, out.String())
	}
	text := out.String()
	t.Log("\n" + text)
	for _, want := range []string{
		"a       connected",
		"▼ server a killed",
		"b       connected (after",
		"▼ server b killed",
		"failed to connect: connection refused",
		"▲ server a started",
		"a       connected (after",
		"echo ok",
		"■ time is up",
		"Summary after",
		// Act 2: two nodes.
		"alice   added node bob: linked",
		"alice   link to bob is up",
		"bob     → alice#",
		"total 15 (after adding 5)",
		"get) = 15: exactly one answer",
		"▼ node bob shuts down",
		"alice   link to bob is down: transport_error bob",
		"fired: normal",
		"■ done: closing alice",
		// Act 3: the registry.
		"dave    registry: greeters (empty)",
		"carol   DBReg(greeters, carol#",
		"dave    registry: greeters + carol#",
		"dave    link to carol is up: her address came from the seed",
		`= "hello dave, from carol#`,
		"dave    registry: greeters - carol#",
		"▼ node carol shuts down",
		"■ done: closing dave and the seed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if k, f := strings.Index(text, "▼ node bob shuts down"), strings.Index(text, "fired: normal"); k < 0 || f < k {
		t.Errorf("the monitor fired before bob shut down")
	}
	// Four connections: a, then b, then a again, then b.
	if m := regexp.MustCompile(`connections +(\d+) \(a: (\d+), b: (\d+)\)`).FindStringSubmatch(text); m == nil || m[1] != "4" || m[2] != "2" || m[3] != "2" {
		t.Errorf("summary connections line = %v, want 4 (a: 2, b: 2)", m)
	}
	// Every timeline row has the same column layout.
	row := regexp.MustCompile(`^ *\+\d+\.\d{3}  .{6}  \S`)
	rows := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "+") && strings.HasPrefix(strings.TrimLeft(line, " "), "+") {
			rows++
			if !row.MatchString(line) {
				t.Errorf("misaligned row %q", line)
			}
		}
	}
	if rows < 15 {
		t.Errorf("only %d timeline rows", rows)
	}
	// The intros and the summary fit 80 columns.
	for _, line := range strings.Split(text, "\n") {
		if !row.MatchString(line) && utf8.RuneCountInString(line) > 80 {
			t.Errorf("a line over 80 columns: %q", line)
		}
	}
}

func TestDemoStopsAtOnceWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := runDemo(ctx, &out, 1); err != nil {
		t.Fatalf("runDemo = %v", err)
	}
	if !strings.Contains(out.String(), "Interrupted.") {
		t.Fatalf("no Interrupted line:\n%s", out.String())
	}
}

// cancelOn is a writer that cancels when what it is written contains word.
type cancelOn struct {
	bytes.Buffer
	word   string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.word)) {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// Interrupted in the middle of act 2, the node demo stops at once and
// closes both nodes (goleak checks their goroutines).
func TestNodeDemoStopsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{word: "add 2", cancel: cancel}
	if err := runNodeDemo(ctx, out, 1); err != nil {
		t.Fatalf("runNodeDemo = %v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "Interrupted.") || strings.Contains(text, "add 3") {
		t.Fatalf("did not stop at once:\n%s", text)
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: tether") {
		t.Fatalf("no arguments: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d, stderr %q", code, stderr.String())
	}
	if code := run(context.Background(), []string{"help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "demo") {
		t.Fatalf("help: exit %d, stdout %q", code, stdout.String())
	}
}
