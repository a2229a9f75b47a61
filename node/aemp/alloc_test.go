package aemp_test

import (
	"bufio"
	"io"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// TestMsgpackAllocs pins the hot path's allocation budget for the benchmark
// message: encoding allocates nothing; decoding allocates the boxed int64
// and the []byte's boxed header — the tag is interned, and the []any and
// the payload's bytes come from the decoder's slabs.
func TestMsgpackAllocs(t *testing.T) {
	w := bufio.NewWriter(io.Discard)
	enc := aemp.Msgpack.NewEncoder(w, aemp.Limits{})
	frame := benchFrame(1 << 40)
	if n := testing.AllocsPerRun(1000, func() { _ = enc.Encode(frame) }); n != 0 {
		t.Errorf("encode: %v allocs per frame, want 0", n)
	}
	dec := aemp.Msgpack.NewDecoder(bufio.NewReaderSize(&cycle{data: frameStream(t, aemp.Msgpack, 1000)}, 64<<10), aemp.Limits{})
	if n := testing.AllocsPerRun(10000, func() {
		if _, err := dec.Decode(); err != nil {
			t.Fatal(err)
		}
	}); n > 2.1 {
		t.Errorf("decode: %v allocs per frame, want at most 2", n)
	}
}
