package aemp_test

import (
	"errors"
	"math"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

type tag string
type level int8
type blob []byte
type counts map[string]uint16
type octet uint8

// normalizeCases are values Normalize and Copy convert, and what into.
var normalizeCases = []struct {
	in, want any
}{
	{nil, nil},
	{1, int64(1)},
	{int8(-8), int64(-8)},
	{int16(-16), int64(-16)},
	{int32(-32), int64(-32)},
	{uint(7), int64(7)},
	{uint8(255), int64(255)},
	{uint16(65535), int64(65535)},
	{uint32(1 << 31), int64(1 << 31)},
	{uint64(math.MaxInt64), int64(math.MaxInt64)},
	{uintptr(9), int64(9)},
	{float32(1.5), 1.5},
	{tag("t"), "t"},
	{level(-3), int64(-3)},
	{blob{1, 2}, []byte{1, 2}},
	{[]string{"a", "b"}, []any{"a", "b"}},
	{[2]int{1, 2}, []any{int64(1), int64(2)}},
	{[]int(nil), nil},
	{map[string]int{"a": 1}, map[string]any{"a": int64(1)}},
	{counts{"n": 3}, map[string]any{"n": int64(3)}},
	{map[tag]bool{"x": true}, map[string]any{"x": true}},
	{[]any{1, []any{uint8(2)}, map[string]any{"f": float32(0.5)}}, []any{int64(1), []any{int64(2)}, map[string]any{"f": 0.5}}},
	{[][]byte{{1}}, []any{[]byte{1}}},
	{[2]byte{1, 2}, []byte{1, 2}},
	{[]octet{3, 4}, []byte{3, 4}},
}

func TestNormalize(t *testing.T) {
	cases := normalizeCases
	for _, c := range cases {
		got, err := aemp.Normalize(c.in)
		if err != nil {
			t.Errorf("Normalize(%#v): %v", c.in, err)
			continue
		}
		if c.want == nil {
			if got != nil {
				t.Errorf("Normalize(%#v) = %#v, want nil", c.in, got)
			}
			continue
		}
		if !equal(got, c.want, false) {
			t.Errorf("Normalize(%#v) = %s, want %s", c.in, show(got), show(c.want))
		}
	}
}

// normalizeErrorCases are values Normalize and Copy refuse, and where in
// them the culprit is.
func normalizeErrorCases() []struct {
	in   any
	path string
} {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	ch := make(chan int)
	x := 1
	return []struct {
		in   any
		path string
	}{
		{uint64(math.MaxUint64), ""},
		{&x, ""},
		{struct{ A int }{1}, ""},
		{ch, ""},
		{complex(1, 2), ""},
		{func() {}, ""},
		{map[int]string{1: "a"}, ""},
		{[]any{1, map[string]any{"k": []any{ch}}}, `[1]."k"[0]`},
		{[]any{"ok", []uint{1, math.MaxUint}}, "[1][1]"},
		{map[string][]any{"a": {&x}}, `."a"[0]`},
		{cyclic, ""},
	}
}

func TestNormalizeErrors(t *testing.T) {
	cases := normalizeErrorCases()
	for _, c := range cases {
		_, err := aemp.Normalize(c.in)
		var ve *aemp.ValueError
		if !errors.Is(err, aemp.ErrNotInModel) || !errors.As(err, &ve) {
			t.Errorf("Normalize(%T): %v, want a *ValueError", c.in, err)
			continue
		}
		if c.path != "" && ve.Path != c.path {
			t.Errorf("Normalize(%T): path %q, want %q (%v)", c.in, ve.Path, c.path, err)
		}
	}
}

// Values already in the model cost nothing, and nothing the caller passed
// is modified.
func TestNormalizeNoCopy(t *testing.T) {
	frame := []any{"bench", int64(1 << 40), []byte("0123456789abcdef"), map[string]any{"k": []any{1.5, nil, true}}}
	if n := testing.AllocsPerRun(100, func() {
		out, err := aemp.NormalizeFrame(frame)
		if err != nil || &out[0] != &frame[0] {
			t.Fatal("copied a frame already in the model")
		}
	}); n != 0 {
		t.Errorf("NormalizeFrame of a model frame: %v allocs", n)
	}
	in := []any{"a", []any{1, "b"}, map[string]any{"x": uint8(1), "y": "z"}}
	out, err := aemp.NormalizeFrame(in)
	if err != nil {
		t.Fatal(err)
	}
	if in[1].([]any)[0] != 1 || in[2].(map[string]any)["x"] != uint8(1) {
		t.Error("the input was modified")
	}
	if !equal(out, []any{"a", []any{int64(1), "b"}, map[string]any{"x": int64(1), "y": "z"}}, false) {
		t.Errorf("got %s", show(out))
	}
}
