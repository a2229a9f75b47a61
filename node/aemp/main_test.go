package aemp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// equal compares two model values. NaN equals NaN. With loose, a []byte and
// a string with the same bytes are equal (what CBOR and JSON cannot tell
// apart), and an integral float equals the integer (what Perl's JSON does).
func equal(a, b any, loose bool) bool {
	if loose {
		if x, ok := a.([]byte); ok {
			a = string(x)
		}
		if x, ok := b.([]byte); ok {
			b = string(x)
		}
	}
	switch x := a.(type) {
	case nil, bool, string, int64:
		return a == b
	case float64:
		y, ok := b.(float64)
		return ok && (x == y && math.Signbit(x) == math.Signbit(y) || math.IsNaN(x) && math.IsNaN(y))
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i], loose) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w, loose) {
				return false
			}
		}
		return true
	}
	panic(fmt.Sprintf("equal: %T is not in the model", a))
}

// show renders a model value for failure messages, with types.
func show(v any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			b.WriteByte('[')
			for i, e := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				walk(e)
			}
			b.WriteByte(']')
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			b.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%q: ", k)
				walk(x[k])
			}
			b.WriteByte('}')
		case string:
			fmt.Fprintf(&b, "%q", x)
		case []byte:
			fmt.Fprintf(&b, "b%q", x)
		case nil:
			b.WriteString("nil")
		default:
			fmt.Fprintf(&b, "%s(%v)", reflect.TypeOf(v), v)
		}
	}
	walk(v)
	return b.String()
}

// fromJSON decodes JSON text into the model the way the json framing does:
// integral literals that fit are int64, other numbers float64.
func fromJSON(t testing.TB, text string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("fromJSON(%q): %v", text, err)
	}
	var conv func(v any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if !strings.ContainsAny(string(x), ".eE") {
				if i, err := x.Int64(); err == nil {
					return i
				}
			}
			f, err := x.Float64()
			if err != nil {
				t.Fatalf("fromJSON: number %s: %v", x, err)
			}
			return f
		case []any:
			for i := range x {
				x[i] = conv(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = conv(x[k])
			}
		}
		return v
	}
	return conv(v)
}
