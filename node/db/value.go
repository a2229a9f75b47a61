package db

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"strings"
)

// compareValues orders two values of the message model (nil, bool, int64,
// float64, string, []byte, []any, map[string]any): by kind in that order
// (int64 and float64 together, by numeric value), then by value. It is a
// total order in which equal values — and only those — compare 0, so that
// "the smallest of the values the holders of a key hold" is the same on
// every node whatever order the values arrived in (see Store).
func compareValues(a, b any) int {
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	switch x := a.(type) {
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case int64:
		return compareNumbers(x, b)
	case float64:
		if y, ok := b.(int64); ok {
			return -compareNumbers(y, x)
		}
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case []any:
		y := b.([]any)
		for i := range min(len(x), len(y)) {
			if c := compareValues(x[i], y[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(x), len(y))
	case map[string]any:
		y := b.(map[string]any)
		kx, ky := slices.Sorted(maps.Keys(x)), slices.Sorted(maps.Keys(y))
		for i := range min(len(kx), len(ky)) {
			if c := strings.Compare(kx[i], ky[i]); c != 0 {
				return c
			}
			if c := compareValues(x[kx[i]], y[ky[i]]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(kx), len(ky))
	}
	return 0 // nil, or a value outside the model (which the node never stores)
}

// compareNumbers compares an int64 with an int64 or a float64; an int64
// comes before a float64 of the same numeric value, so that the two are
// never equal (they are different values on the wire).
func compareNumbers(x int64, b any) int {
	switch y := b.(type) {
	case int64:
		return cmp.Compare(x, y)
	case float64:
		if c := cmp.Compare(float64(x), y); c != 0 {
			return c
		}
		return -1
	}
	return 0
}

// rank is the order of the kinds of values.
func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case int64, float64:
		return 2
	case string:
		return 3
	case []byte:
		return 4
	case []any:
		return 5
	case map[string]any:
		return 6
	}
	return 7
}

// equalValues reports whether a and b are the same value.
func equalValues(a, b any) bool { return compareValues(a, b) == 0 }

// Equal reports whether two values of the message model are the same
// value (as deep equality, but a byte string never equals a string).
func Equal(a, b any) bool { return equalValues(a, b) }
