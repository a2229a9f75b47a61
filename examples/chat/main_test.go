package main

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The story over real TCP, as alice sees it: joins in order, every line
// said, bob removed when his node dies.
func TestChat(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	want := `alice sees: * alice joined
alice sees: * bob joined
alice sees: * carol joined
alice sees: <alice> hello
alice sees: <bob> hi alice
(bob's node dies)
alice sees: * bob left
alice sees: <carol> bye, bob
`
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
