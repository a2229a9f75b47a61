package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The whole demo, with its schedule compressed tenfold: it must tell the
// story of both failovers and the outage, and end with the summary.
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
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
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
