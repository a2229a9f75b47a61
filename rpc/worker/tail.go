package worker

import (
	"io"
	"strings"
	"unicode/utf8"
)

// tail keeps the last max bytes written to it, and copies everything to
// an optional writer. It is written by one goroutine at a time and read
// once writing is over.
type tail struct {
	max  int
	b    []byte
	cut  bool      // bytes were dropped from the front
	copy io.Writer // may be nil
}

func (t *tail) Write(p []byte) (int, error) {
	if t.copy != nil {
		t.copy.Write(p) // best effort: the tail matters more
	}
	if t.max <= 0 {
		return len(p), nil
	}
	if len(p) >= t.max {
		t.cut = t.cut || len(t.b) > 0 || len(p) > t.max
		t.b = append(t.b[:0], p[len(p)-t.max:]...)
		return len(p), nil
	}
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
		t.cut = true
	}
	return len(p), nil
}

// String returns the tail without surrounding white space, starting with
// "..." if the front was dropped (at a character boundary).
func (t *tail) String() string {
	b := t.b
	if t.cut {
		for len(b) > 0 && !utf8.RuneStart(b[0]) {
			b = b[1:]
		}
	}
	s := strings.TrimSpace(string(b))
	if t.cut && s != "" {
		s = "..." + s
	}
	return s
}
