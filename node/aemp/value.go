package aemp

import (
	"math"
	"reflect"
	"strconv"
)

// The message model. A frame is a []any whose elements, at every level, have
// one of these dynamic types:
//
//	nil, bool, int64, float64, string, []byte, []any, map[string]any
//
// Every decoder returns values of exactly these types, and every encoder
// accepts exactly these (anything else is a *FrameError with ErrNotInModel).
// [Normalize] converts the wider set of Go values a caller may pass.
//
// What each framing can tell apart: msgpack keeps all eight types. CBOR and
// JSON have no separate byte string on the way in: CBOR byte strings decode
// as string (Perl sends ASCII text as byte strings, map keys included), and
// JSON has only text. Integers outside int64 arriving from a peer (a CBOR or
// msgpack uint64 above MaxInt64, a CBOR negative below MinInt64, a JSON
// integer literal out of range) become the nearest float64, as JSON readers
// do; on the way out, Normalize refuses such values rather than round them.

// Normalize returns v converted into the message model, or a *ValueError
// (errors.Is(err, ErrNotInModel)) naming the first value it cannot convert.
//
// It accepts, besides the model's own types: every signed and unsigned
// integer type (unsigned ones only when they fit in int64), float32, named
// types whose underlying type is one of those or bool or string, slices and
// arrays of anything it accepts ([]uint8 kinds become []byte, copied), and
// maps whose key kind is string. Pointers, structs, channels, functions and
// complex numbers are refused. Lists and maps nest at most DefaultMaxDepth
// levels (v itself is level 1 if it is a list or map), which also stops a
// list that contains itself.
//
// Normalize copies only what it must: a value already in the model is
// returned as is, without allocating, and a list or map is copied only when
// an element inside it changed.
func Normalize(v any) (any, error) {
	out, _, err := normalize(v, 0)
	return out, err
}

// NormalizeFrame is Normalize for a whole frame: it returns frame itself when
// every element is already in the model, otherwise a converted copy, or a
// *ValueError.
func NormalizeFrame(frame []any) ([]any, error) {
	out, _, err := normalizeList(frame, 1)
	return out, err
}

func normalize(v any, depth int) (any, bool, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return v, false, nil
	case []any:
		out, changed, err := normalizeList(x, depth+1)
		if err != nil || !changed {
			return v, false, err // v, not out: boxing out again would allocate
		}
		return out, true, nil
	case map[string]any:
		out, err := normalizeMap(x, depth+1)
		if err != nil || out == nil {
			return v, false, err
		}
		return out, true, nil
	case float32:
		return float64(x), true, nil
	}
	if i, ok := widenInt(v); ok {
		return i, true, nil
	}
	return normalizeReflect(reflect.ValueOf(v), depth)
}

// widenInt returns the int64 that Normalize makes of a Go integer of
// another type, and false for other values and for unsigned integers
// beyond int64 (which normalizeReflect refuses, saying why). The encoders
// take these integers and float32 too, encoding them as Normalize would:
// so a message with an int argument goes out without a copy.
func widenInt(v any) (int64, bool) {
	var u uint64
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		u = uint64(x)
	case uint64:
		u = x
	case uintptr:
		u = uint64(x)
	default:
		return 0, false
	}
	return int64(u), u <= math.MaxInt64
}

func tooDeep(v any) *ValueError { return tooDeepType(reflect.TypeOf(v)) }

func tooDeepType(t reflect.Type) *ValueError {
	return &ValueError{Type: t.String(), Reason: "nested deeper than " + strconv.Itoa(DefaultMaxDepth) + " levels"}
}

func normalizeList(l []any, depth int) ([]any, bool, error) {
	if depth > DefaultMaxDepth {
		return nil, false, tooDeep(l)
	}
	out := l
	changed := false
	for i, e := range l {
		n, c, err := normalize(e, depth)
		if err != nil {
			return nil, false, atPath(err, "["+strconv.Itoa(i)+"]")
		}
		if c {
			if !changed {
				out = make([]any, len(l))
				copy(out, l)
				changed = true
			}
			out[i] = n
		}
	}
	return out, changed, nil
}

// normalizeMap returns a converted copy of m, or nil if nothing in it
// needed converting.
func normalizeMap(m map[string]any, depth int) (map[string]any, error) {
	if depth > DefaultMaxDepth {
		return nil, tooDeep(m)
	}
	var out map[string]any
	for k, e := range m {
		n, c, err := normalize(e, depth)
		if err != nil {
			return nil, atPath(err, "."+strconv.Quote(k))
		}
		if c {
			if out == nil {
				out = make(map[string]any, len(m))
				for k2, e2 := range m {
					out[k2] = e2
				}
			}
			out[k] = n
		}
	}
	return out, nil
}

// normalizeReflect handles named types, typed slices, arrays and maps.
func normalizeReflect(rv reflect.Value, depth int) (any, bool, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		i, err := reflectUint(rv)
		if err != nil {
			return nil, false, err
		}
		return i, true, nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true, nil
	case reflect.String:
		return rv.String(), true, nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, true, nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return reflectBytes(rv), true, nil
		}
		depth++
		if depth > DefaultMaxDepth {
			return nil, false, tooDeep(rv.Interface())
		}
		out := make([]any, rv.Len())
		for i := range out {
			n, _, err := normalize(rv.Index(i).Interface(), depth)
			if err != nil {
				return nil, false, atPath(err, "["+strconv.Itoa(i)+"]")
			}
			out[i] = n
		}
		return out, true, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, false, &ValueError{Type: rv.Type().String(), Reason: "map key is not a string"}
		}
		if rv.IsNil() {
			return nil, true, nil
		}
		depth++
		if depth > DefaultMaxDepth {
			return nil, false, tooDeep(rv.Interface())
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			n, _, err := normalize(it.Value().Interface(), depth)
			if err != nil {
				return nil, false, atPath(err, "."+strconv.Quote(k))
			}
			out[k] = n
		}
		return out, true, nil
	}
	return nil, false, &ValueError{Type: rv.Type().String(), Reason: "unsupported type"}
}

// atPath prefixes a *ValueError's path with seg.
func atPath(err error, seg string) error {
	if ve, ok := err.(*ValueError); ok {
		ve.Path = seg + ve.Path
	}
	return err
}

// modelTypeName names v's dynamic type for error messages.
func modelTypeName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

// reflectUint returns rv, of an unsigned kind, as an int64, or the
// *ValueError of a value beyond int64.
func reflectUint(rv reflect.Value) (int64, error) {
	u := rv.Uint()
	if u > math.MaxInt64 {
		return 0, &ValueError{Type: rv.Type().String(), Reason: "integer " + strconv.FormatUint(u, 10) + " overflows int64"}
	}
	return int64(u), nil
}

// reflectBytes returns a copy of the bytes of rv, a slice or an array of a
// uint8 kind.
func reflectBytes(rv reflect.Value) []byte {
	b := make([]byte, rv.Len())
	if rv.Kind() == reflect.Slice {
		copy(b, rv.Bytes())
	} else {
		for i := range b {
			b[i] = byte(rv.Index(i).Uint())
		}
	}
	return b
}

// AtIndex returns err with "[i]" put before the path of a *ValueError, for
// a value found at index i of a list (a message's arguments, say); other
// errors are returned as they are.
func AtIndex(err error, i int) error { return atPath(err, "["+strconv.Itoa(i)+"]") }
