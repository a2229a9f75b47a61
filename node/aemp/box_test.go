package aemp_test

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// TestBoxedValuesSurviveGC decodes many frames whose values the decoders
// box (interned strings among them), keeps some of them, churns the heap and
// collects repeatedly, and checks every kept value: an interned string must
// not be overwritten when its slot is reused.
func TestBoxedValuesSurviveGC(t *testing.T) {
	frame := func(i int) []any {
		return []any{
			"tag", int64(i) << 20, float64(i) + 0.5, fmt.Sprintf("s%07d", i),
			[]byte(fmt.Sprintf("b%015d", i)), strings.Repeat("L", 40+i%30),
			map[string]any{fmt.Sprintf("k%d", i%50): int64(-i - 1000)},
		}
	}
	for _, f := range []*aemp.Framing{aemp.Msgpack, aemp.JSON} {
		var buf bytes.Buffer
		enc := f.NewEncoder(&buf, aemp.Limits{})
		const n = 20000
		for i := range n {
			if err := enc.Encode(frame(i)); err != nil {
				t.Fatal(err)
			}
		}
		dec := f.NewDecoder(bufio.NewReader(&buf), aemp.Limits{})
		kept := map[int][]any{}
		for i := range n {
			got, err := dec.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if i%7 == 0 {
				kept[i] = got
			}
			if i%1000 == 0 {
				runtime.GC()
			}
		}
		var junk [][]byte
		for range 1000 {
			junk = append(junk, make([]byte, 1000))
		}
		runtime.GC()
		runtime.GC()
		_ = junk
		for i, got := range kept {
			if !equal(got, frame(i), f != aemp.Msgpack) {
				t.Fatalf("%s frame %d after GC: %s", f, i, show(got))
			}
		}
		if f == aemp.Msgpack { // byte slices are private to their frame
			a := kept[0][4].([]byte)
			a[0] = 'X'
			if kept[7][4].([]byte)[0] != 'b' || len(a) != cap(a) {
				t.Fatalf("%s: byte slices share memory", f)
			}
		}
	}
}
