package main

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example does what its doc says, over real TCP: every call is
// answered, by a until it crashes, then b, then c, then a again.
func TestFailover(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	want := `replicas a, b and c are up; the client tries them in turn
call 1: hello caller 1, from a
call 2: hello caller 2, from a
a crashes
call 3: hello caller 3, from b
call 4: hello caller 4, from b
b crashes
call 5: hello caller 5, from c
call 6: hello caller 6, from c
a is back; c crashes
call 7: hello caller 7, from a
call 8: hello caller 8, from a
`
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
