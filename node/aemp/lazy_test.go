package aemp_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// checkLazy decodes data with Decode and with DecodeLazy and an Unpacker,
// through a small and a large read buffer, and checks that the two agree
// frame by frame: the same values, and the same errors.
func checkLazy(t *testing.T, data []byte) {
	t.Helper()
	for _, size := range []int{16, 64 << 10} {
		eager := aemp.Msgpack.NewDecoder(bufio.NewReaderSize(bytes.NewReader(data), size), fuzzLimits)
		lazy := aemp.Msgpack.NewDecoder(bufio.NewReaderSize(bytes.NewReader(data), size), fuzzLimits).(aemp.LazyDecoder)
		u := aemp.NewUnpacker(fuzzLimits)
		for i := 0; ; i++ {
			want, wantErr := eager.Decode()
			got, to, rest, err := lazy.DecodeLazy()
			if rest != nil {
				if err != nil || got != nil || len(to) == 0 {
					t.Fatalf("%x frame %d: DecodeLazy returned frame %s, to %q, a rest and %v", data, i, show(got), to, err)
				}
				tail, uerr := u.Unpack(rest)
				if uerr != nil {
					t.Fatalf("%x frame %d: Unpack of a checked rest: %v", data, i, uerr)
				}
				got = append([]any{string(to)}, tail...)
			}
			if !sameErr(err, wantErr) {
				t.Fatalf("%x frame %d (buffer %d): lazy %v, eager %v", data, i, size, err, wantErr)
			}
			if wantErr != nil {
				break
			}
			if !equal(got, want, false) {
				t.Fatalf("%x frame %d (buffer %d): lazy %s, eager %s", data, i, size, show(got), show(want))
			}
		}
	}
}

// sameErr: both nil, both the same stream error, or FrameErrors with the
// same reason.
func sameErr(a, b error) bool {
	if a == nil || b == nil || a == io.EOF || b == io.EOF || a == io.ErrUnexpectedEOF || b == io.ErrUnexpectedEOF {
		return a == b
	}
	var fa, fb *aemp.FrameError
	return errors.As(a, &fa) && errors.As(b, &fb) && fa.Reason == fb.Reason
}

func TestLazyMatchesEager(t *testing.T) {
	for _, fr := range valueTable() {
		if b, err := aemp.Msgpack.NewEncoder(nil, aemp.Limits{}).Append(nil, fr); err == nil {
			checkLazy(t, b)
		}
	}
	var stream bytes.Buffer
	enc := aemp.Msgpack.NewEncoder(&stream, aemp.Limits{})
	for _, fr := range [][]any{
		{"port#1", "tag", int64(1) << 40, []byte("abcdefghijklmnop")},
		{"p", []any{"nested", map[string]any{"k": []any{int64(-1)}}}, 3.5, nil, true},
		{"", "mon1", "x"}, // node-port requests stay eager
		{int64(5), "not a port"},
		{},
		{"only-port"},
		{"p", string(make([]byte, 5000))}, // a rest of its own
	} {
		if err := enc.Encode(fr); err != nil {
			t.Fatal(err)
		}
	}
	checkLazy(t, stream.Bytes())
	for _, c := range hostileCases() {
		if c.f == aemp.Msgpack {
			checkLazy(t, c.in)
		}
	}
}

func TestUnpackRefusesOtherBytes(t *testing.T) {
	u := aemp.NewUnpacker(aemp.Limits{})
	for _, in := range [][]byte{nil, {0x92, 0x01}, {0x91, 0x01, 0x02}, {0xc1}, {0x01}} {
		if l, err := u.Unpack(in); err == nil {
			t.Errorf("Unpack(%x) = %s, want an error", in, show(l))
		}
	}
}
