package aemp_test

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
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
	for _, forge := range []bool{true, false} {
		t.Run(fmt.Sprintf("forge=%v", forge), func(t *testing.T) {
			defer aemp.SetForge(forge)()
			boxedValuesSurviveGC(t)
		})
	}
}

func boxedValuesSurviveGC(t *testing.T) {
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

// TestSlabBoxesAreOrdinary checks that values boxed into slabs behave like
// the ones conversions make, everywhere an interface is used: comparison,
// map keys, type switches, reflection and printing.
func TestSlabBoxesAreOrdinary(t *testing.T) {
	if !aemp.LayoutOK() {
		t.Fatal("the interface layout check fails on this platform: slab boxing is off")
	}
	long := strings.Repeat("x", 100)
	want := []any{int64(1) << 40, int64(-300), []byte("payload"), long, "tag"}
	var buf bytes.Buffer
	if err := aemp.Msgpack.NewEncoder(&buf, aemp.Limits{}).Encode(want); err != nil {
		t.Fatal(err)
	}
	got, err := aemp.Msgpack.NewDecoder(bufio.NewReader(&buf), aemp.Limits{}).Decode()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %#v, want %#v", got, want)
	}
	for i, v := range got {
		if reflect.TypeOf(v) != reflect.TypeOf(want[i]) {
			t.Errorf("element %d: type %T, want %T", i, v, want[i])
		}
		if fmt.Sprint(v) != fmt.Sprint(want[i]) {
			t.Errorf("element %d prints %q, want %q", i, fmt.Sprint(v), fmt.Sprint(want[i]))
		}
	}
	m := map[any]int{int64(1) << 40: 1, long: 2, int64(-300): 3}
	if m[got[0]] != 1 || m[got[3]] != 2 || m[got[1]] != 3 || got[0] != want[0] || got[3] != want[3] {
		t.Error("slab-boxed values do not compare or hash like converted ones")
	}
	switch v := got[2].(type) {
	case []byte:
		if string(v) != "payload" || cap(v) != len(v) {
			t.Errorf("[]byte element %q with capacity %d", v, cap(v))
		}
	default:
		t.Errorf("type switch took %T", v)
	}
}
