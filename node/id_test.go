package node

import (
	"strings"
	"testing"

	"github.com/tetherkit/tether/clock"
)

func TestNextCounterIsPerlsMagicIncrement(t *testing.T) {
	cases := map[string]string{"a": "b", "y": "z", "z": "aa", "az": "ba", "zz": "aaa", "azz": "baa"}
	for in, want := range cases {
		if got := nextCounter(in); got != want {
			t.Errorf("nextCounter(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpandID(t *testing.T) {
	r := clock.NewRand(1)
	for _, tc := range []struct {
		in         string
		wantPrefix string
		random     bool
	}{
		{"alpha", "alpha", false},
		{"%n/x", "box/x", false},
		{"svc/", "svc/", true},
		{"w-%u-1", "w-", true},
		{"", "tether/", true},
	} {
		got, random, err := expandID(tc.in, "box", r)
		if err != nil || !strings.HasPrefix(got, tc.wantPrefix) || random != tc.random {
			t.Errorf("expandID(%q) = %q, %v, %v", tc.in, got, random, err)
		}
		if tc.random && len(got) < len(tc.wantPrefix)+10 {
			t.Errorf("expandID(%q) = %q: no random part", tc.in, got)
		}
	}
	if _, _, err := expandID("a#b", "box", r); err == nil {
		t.Error("an ID with '#' was accepted")
	}
	if a, _, _ := expandID("x/", "h", clock.NewRand(2)); a == mustExpand("x/", clock.NewRand(3)) {
		t.Error("two seeds gave the same random ID")
	}
}

func mustExpand(id string, r *clock.Rand) string {
	s, _, _ := expandID(id, "h", r)
	return s
}

func TestSpawnNamesCannotCollideWithLocalNames(t *testing.T) {
	r := clock.NewRand(7)
	for range 1000 {
		p := runiq(r)
		if len(p) != 10 || p[9] < 'A' || p[9] > 'Z' {
			t.Fatalf("runiq() = %q: want 10 characters ending in an uppercase letter", p)
		}
	}
	// A local name is a 9-character prefix (or none) and lowercase
	// letters: its 10th character, if any, is lowercase.
	prefix := randomString(r, 9)
	name := prefix + "b"
	if name[9] >= 'A' && name[9] <= 'Z' {
		t.Fatalf("local name %q could be a spawned one", name)
	}
}

func TestNodeOf(t *testing.T) {
	for in, want := range map[string]string{"a#b": "a", "a#": "a", "a": "a", "svc/x1#qQ9#z": "svc/x1"} {
		if got := NodeOf(in); got != want {
			t.Errorf("NodeOf(%q) = %q, want %q", in, got, want)
		}
	}
}
