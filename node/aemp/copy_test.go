package aemp_test

import (
	"strings"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// Copy converts what Normalize converts, into the same values, and refuses
// what it refuses with the same error.
func TestCopyAgreesWithNormalize(t *testing.T) {
	deep := any("leaf")
	for range aemp.DefaultMaxDepth {
		deep = []any{deep}
	}
	var values []any
	for _, c := range normalizeCases {
		values = append(values, c.in)
	}
	values = append(values, "bench", strings.Repeat("long ", 20), []byte(nil), []any{}, map[string]any{}, deep)
	for _, v := range values {
		want, err := aemp.Normalize(v)
		if err != nil {
			t.Fatalf("Normalize(%#v): %v", v, err)
		}
		got, err := aemp.Copy(v)
		if err != nil {
			t.Errorf("Copy(%#v): %v", v, err)
			continue
		}
		if !equal(got, want, false) {
			t.Errorf("Copy(%#v) = %s, Normalize gives %s", v, show(got), show(want))
		}
	}
	for _, c := range append(normalizeErrorCases(), struct {
		in   any
		path string
	}{[]any{deep}, ""}) {
		_, want := aemp.Normalize(c.in)
		_, got := aemp.Copy(c.in)
		if got == nil || want == nil || got.Error() != want.Error() {
			t.Errorf("Copy(%T): %v; Normalize: %v", c.in, got, want)
		}
	}
}

// Nothing in a copy is the input's: changing one leaves the other as it was.
func TestCopySharesNothing(t *testing.T) {
	b := []byte{1, 2, 3}
	nested := []any{[]byte{4}, map[string]any{"k": []byte{5}}}
	in := []any{"tag", b, nested, []string{"s"}}
	out, err := aemp.CopyList(in)
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 9
	nested[0].([]byte)[0] = 9
	nested[1].(map[string]any)["k"].([]byte)[0] = 9
	nested[1].(map[string]any)["new"] = 1
	in[0] = "changed"
	want := []any{"tag", []byte{1, 2, 3}, []any{[]byte{4}, map[string]any{"k": []byte{5}}}, []any{"s"}}
	if !equal(out, want, false) {
		t.Errorf("after changing the input, the copy is %s, want %s", show(out), show(want))
	}
	out[1].([]byte)[1] = 7
	if b[1] != 2 {
		t.Error("changing the copy changed the input")
	}
}

// A string too long for the shared table is copied all the same, and a
// short one may come from the table: equal either way.
func TestCopyStrings(t *testing.T) {
	for _, s := range []string{"", "a", "bench", strings.Repeat("x", 32), strings.Repeat("y", 33)} {
		for range 2 { // the second time from the table
			got, err := aemp.Copy(s)
			if err != nil || got != s {
				t.Errorf("Copy(%q) = %q, %v", s, got, err)
			}
		}
	}
}
