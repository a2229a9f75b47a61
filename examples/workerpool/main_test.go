package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example does what its doc says, over real TCP: the master finds the
// workers through the registry, a worker node's death removes its workers,
// and every job is done once — worker2's before it went.
func TestWorkerPool(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	want := regexp.MustCompile(`^master: found 6 workers through the registry
worker2: shutting down
(?:master: 1 workers gone, 5 left
master: 1 workers gone, 4 left|master: 2 workers gone, 4 left)
master: all 24 jobs done: worker1 (\d+), worker2 4, worker3 (\d+)
$`)
	m := want.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("output:\n%s", out.String())
	}
	w1, _ := strconv.Atoi(m[1])
	w3, _ := strconv.Atoi(m[2])
	if w1+w3 != 20 {
		t.Fatalf("worker1 and worker3 did %s and %s jobs, want 20 in all", m[1], m[2])
	}
}
