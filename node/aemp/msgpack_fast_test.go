package aemp_test

import (
	"errors"
	"math"
	"sort"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tetherkit/tether/node/aemp"
)

// refMsgpack encodes frame with msgpack/v5's Encoder, in the form the
// package promises: shortest integers, float64 floats, sorted map keys.
func refMsgpack(t *testing.T, frame []any) []byte {
	t.Helper()
	var out appendBuf
	enc := msgpack.NewEncoder(&out)
	var value func(v any) error
	value = func(v any) error {
		switch x := v.(type) {
		case nil:
			return enc.EncodeNil()
		case bool:
			return enc.EncodeBool(x)
		case int64:
			return enc.EncodeInt(x)
		case float64:
			return enc.EncodeFloat64(x)
		case string:
			return enc.EncodeString(x)
		case []byte:
			// Not EncodeBytes, which writes a nil slice as nil: a
			// []byte stays one, however empty.
			if err := enc.EncodeBytesLen(len(x)); err != nil {
				return err
			}
			out = append(out, x...)
			return nil
		case []any:
			if err := enc.EncodeArrayLen(len(x)); err != nil {
				return err
			}
			for _, e := range x {
				if err := value(e); err != nil {
					return err
				}
			}
			return nil
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if err := enc.EncodeMapLen(len(x)); err != nil {
				return err
			}
			for _, k := range keys {
				if err := enc.EncodeString(k); err != nil {
					return err
				}
				if err := value(x[k]); err != nil {
					return err
				}
			}
			return nil
		}
		t.Fatalf("refMsgpack: %T is not in the model", v)
		return nil
	}
	if err := value(frame); err != nil {
		t.Fatal(err)
	}
	return out
}

type appendBuf []byte

func (a *appendBuf) Write(p []byte) (int, error) { *a = append(*a, p...); return len(p), nil }
func (a *appendBuf) WriteByte(c byte) error      { *a = append(*a, c); return nil }

// checkMsgpackEncoding: our encoder writes what msgpack/v5 writes.
func checkMsgpackEncoding(t *testing.T, frame []any) {
	t.Helper()
	got, err := aemp.Msgpack.NewEncoder(nil, aemp.Limits{}).Append(nil, frame)
	if err != nil {
		return // over the limits: the reference has none
	}
	if want := refMsgpack(t, frame); string(got) != string(want) {
		t.Fatalf("encoding %s:\n got %x\nwant %x", show(frame), got, want)
	}
}

func TestMsgpackEncodingMatchesLibrary(t *testing.T) {
	for name, frame := range valueTable() {
		t.Run(name, func(t *testing.T) { checkMsgpackEncoding(t, frame) })
	}
	// Every length form of every head.
	var edges []any
	for _, n := range []int64{0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64} {
		edges = append(edges, n, -n, n-1, -n-1)
	}
	for _, n := range []int{0, 15, 16, 31, 32, 255, 256, 65535, 65536} {
		s := string(make([]byte, n))
		edges = append(edges, s, []byte(s))
		edges = append(edges, make([]any, n))
		m := map[string]any{}
		for i := range n {
			m[string(rune('a'+i%26))+string(rune(i))] = int64(i)
		}
		edges = append(edges, m)
	}
	edges = append(edges, math.Inf(1), math.NaN(), 0.5, float64(math.MaxFloat32), true, false, nil)
	checkMsgpackEncoding(t, edges)
}

// checkMsgpackFastPath: the fast decoder agrees with the streaming one on
// the first frame of data — the same frame and length, or both an error of
// the same kind — and leaves to it only frames it could not see whole.
func checkMsgpackFastPath(t *testing.T, data []byte) {
	t.Helper()
	if len(data) == 0 || !(data[0]&0xf0 == 0x90 || data[0] == 0xdc || data[0] == 0xdd) {
		return // Decode refuses these before either path
	}
	fast, fastN, fastErr, short, stream, streamN, streamErr := aemp.MsgpackBothWays(data, fuzzLimits)
	switch {
	case short:
		if streamErr == nil && streamN <= len(data) && streamN <= fuzzLimits.MaxFrameSize {
			t.Fatalf("%x: fast path gave up on a frame of %d bytes the stream decoded: %s", data, streamN, show(stream))
		}
	case fastErr == nil:
		if streamErr != nil || fastN != streamN || !equal(fast, stream, false) {
			t.Fatalf("%x: fast %s (%d bytes), stream %s (%d bytes, %v)", data, show(fast), fastN, show(stream), streamN, streamErr)
		}
	default:
		var fe *aemp.FrameError
		if !errors.As(fastErr, &fe) || !errors.Is(streamErr, fe.Reason) {
			t.Fatalf("%x: fast %v, stream %v", data, fastErr, streamErr)
		}
	}
}
