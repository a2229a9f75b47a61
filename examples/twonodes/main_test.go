package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example does what its doc says, over real TCP, and leaves nothing
// running.
func TestTwoNodes(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	want := regexp.MustCompile(`^app: linked to node "store"
app: spawned (store#\w+)
app: get answer = 42 \(found: true\)
store: shutting down
app: (store#\w+) ended: normal
$`)
	m := want.FindStringSubmatch(out.String())
	if m == nil || m[1] != m[2] {
		t.Fatalf("output:\n%s", out.String())
	}
}
