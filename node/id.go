package node

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tetherkit/tether/clock"
)

// Identifiers, as AnyEvent::MP 2.x makes them:
//
//   - A node ID is any string without '#' or ';'. Configured IDs expand %n
//     (the host name) and %u (a random unique string); an ID ending in '/'
//     gets a random suffix.
//   - A port ID is NODE#NAME; the node port has the empty name.
//   - Local port names are a per-process random prefix (none when the node
//     ID is itself random) followed by a counter of lowercase letters: b,
//     c, … z, aa, ab, … Names a caller picks for Spawn are a 10-character
//     random prefix whose last character is uppercase, then the counter. A
//     local name and a spawned name can never be equal, and names are
//     never reused, not even across restarts (new prefixes each time).

const base62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// randomString returns n base-62 characters drawn from r.
func randomString(r *clock.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[r.IntN(len(base62))]
	}
	return string(b)
}

// runiq returns a spawn prefix: 10 random characters, the last one an
// uppercase letter, so that it cannot be mistaken for a local name.
func runiq(r *clock.Rand) string {
	s := []byte(randomString(r, 10))
	s[9] = byte('A' + r.IntN(26))
	return string(s)
}

// nextCounter increments a counter the way Perl's magic string increment
// does on lowercase strings: a, b, … z, aa, ab, … az, ba, … zz, aaa.
func nextCounter(s string) string {
	b := []byte(s)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 'z' {
			b[i]++
			return string(b)
		}
		b[i] = 'a'
	}
	return "a" + string(b)
}

// ErrBadID reports a node ID that cannot be used.
var ErrBadID = errors.New("bad node ID")

// expandID expands a configured node ID: %n becomes host, %u and a
// trailing '/' add a random unique string. It reports whether the result
// is random (then local port names need no prefix).
func expandID(id, host string, r *clock.Rand) (string, bool, error) {
	random := false
	if id == "" {
		id = "tether/"
	}
	id = strings.ReplaceAll(id, "%n", host)
	if strings.Contains(id, "%u") {
		id = strings.ReplaceAll(id, "%u", runiq(r))
		random = true
	}
	if strings.HasSuffix(id, "/") {
		id += runiq(r)
		random = true
	}
	if strings.ContainsAny(id, "#;") {
		return "", false, fmt.Errorf("%w %q: it contains '#' or ';'", ErrBadID, id)
	}
	return id, random, nil
}

// NodeOf returns the node part of a port ID: everything before '#', or the
// whole ID if it names a node (its node port).
func NodeOf(port string) string {
	if i := strings.IndexByte(port, '#'); i >= 0 {
		return port[:i]
	}
	return port
}

// splitPort splits a port ID into its node and its name ("" for the node
// port).
func splitPort(port string) (node, name string) {
	if i := strings.IndexByte(port, '#'); i >= 0 {
		return port[:i], port[i+1:]
	}
	return port, ""
}
