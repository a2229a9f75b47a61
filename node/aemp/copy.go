package aemp

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Copy returns v converted into the message model, as Normalize does, but
// always as a deep copy: nothing in the result that can be changed shares
// memory with v (strings, which cannot, may keep v's bytes, or come from a
// table of short ones).
// It accepts what Normalize accepts and refuses what it refuses, with the
// same *ValueError.
//
// Since nothing of v but a long string's bytes survives in the result, the
// compiler lets a caller's argument list, and the values boxed into it,
// stay on its stack: a function that passes its ...any arguments to
// CopyList, and to nothing that keeps them, saves its callers the boxing
// of those arguments on the heap. A node's Send owes its zero allocations
// to this.
func Copy(v any) (any, error) { return copyValue(v, 0) }

// CopyList is Copy for each element of l, into a new list.
func CopyList(l []any) ([]any, error) {
	out := make([]any, len(l))
	for i, e := range l {
		c, err := copyValue(e, 1)
		if err != nil {
			return nil, atPath(err, "["+strconv.Itoa(i)+"]")
		}
		out[i] = c
	}
	return out, nil
}

func copyValue(v any, depth int) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return x, nil
	case int64:
		return x, nil
	case float64:
		return x, nil
	case string:
		return copyString(x), nil
	case []byte:
		return bytes.Clone(x), nil
	case []any:
		if depth+1 > DefaultMaxDepth {
			return nil, tooDeepType(reflect.TypeOf(v))
		}
		out := make([]any, len(x))
		for i, e := range x {
			c, err := copyValue(e, depth+1)
			if err != nil {
				return nil, atPath(err, "["+strconv.Itoa(i)+"]")
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		if depth+1 > DefaultMaxDepth {
			return nil, tooDeepType(reflect.TypeOf(v))
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := copyValue(e, depth+1)
			if err != nil {
				return nil, atPath(err, "."+strconv.Quote(k))
			}
			out[strings.Clone(k)] = c
		}
		return out, nil
	case float32:
		return float64(x), nil
	}
	if i, ok := widenInt(v); ok {
		return i, nil
	}
	return copyReflect(reflect.ValueOf(v), depth)
}

// copyReflect is normalizeReflect for Copy: it reads rv through reflect
// only (never Interface, which would let v escape) and copies what it
// keeps.
func copyReflect(rv reflect.Value, depth int) (any, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		i, err := reflectUint(rv)
		if err != nil {
			return nil, err
		}
		return i, nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return copyString(rv.String()), nil
	case reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return copyReflect(rv.Elem(), depth)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return reflectBytes(rv), nil
		}
		if depth+1 > DefaultMaxDepth {
			return nil, tooDeepType(rv.Type())
		}
		out := make([]any, rv.Len())
		for i := range out {
			c, err := copyReflect(rv.Index(i), depth+1)
			if err != nil {
				return nil, atPath(err, "["+strconv.Itoa(i)+"]")
			}
			out[i] = c
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, &ValueError{Type: rv.Type().String(), Reason: "map key is not a string"}
		}
		if rv.IsNil() {
			return nil, nil
		}
		if depth+1 > DefaultMaxDepth {
			return nil, tooDeepType(rv.Type())
		}
		out := make(map[string]any, rv.Len())
		for _, kv := range rv.MapKeys() { // MapRange would let rv escape
			k := kv.String()
			c, err := copyReflect(rv.MapIndex(kv), depth+1)
			if err != nil {
				return nil, atPath(err, "."+strconv.Quote(k))
			}
			out[strings.Clone(k)] = c
		}
		return out, nil
	}
	return nil, &ValueError{Type: rv.Type().String(), Reason: "unsupported type"}
}

// copyString returns s boxed anew: a box of v's own would escape with it.
// Short strings — a message's tag, most often — come boxed from a table
// shared by all goroutines, one per slot, which saves the allocation; a
// collision only replaces the slot. A long one keeps its bytes, which the
// compiler sees as two pointers away from the caller's box: they may
// escape without taking the box along.
func copyString(s string) any {
	if len(s) == 0 {
		return ""
	}
	if len(s) > internMaxLen {
		return s
	}
	slot := &copied[internSlot(unsafe.Slice(unsafe.StringData(s), len(s)))]
	if e := slot.Load(); e != nil && e.s == s {
		return e.v
	}
	c := strings.Clone(s)
	e := &internEntry{s: c, v: c}
	slot.Store(e)
	return e.v
}

// copied is copyString's table.
var copied [internSize]atomic.Pointer[internEntry]
