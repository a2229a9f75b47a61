package aemp_test

import (
	"bufio"
	"io"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// TestMsgpackAllocs pins the hot path's allocation budget for the benchmark
// message: encoding allocates nothing; decoding allocates nothing but a
// slab chunk now and then — the tag is interned, and the []any, the boxed
// int64, the payload's bytes and its boxed header come from the decoder's
// slabs. With slab boxing off, the int64 and the header cost one each.
func TestMsgpackAllocs(t *testing.T) {
	w := bufio.NewWriter(io.Discard)
	enc := aemp.Msgpack.NewEncoder(w, aemp.Limits{})
	frame := benchFrame(1 << 40)
	if n := testing.AllocsPerRun(1000, func() { _ = enc.Encode(frame) }); n != 0 {
		t.Errorf("encode: %v allocs per frame, want 0", n)
	}
	for _, c := range []struct {
		forge bool
		max   float64
	}{{true, 0.05}, {false, 2.1}} {
		restore := aemp.SetForge(c.forge)
		dec := aemp.Msgpack.NewDecoder(bufio.NewReaderSize(&cycle{data: frameStream(t, aemp.Msgpack, 1000)}, 64<<10), aemp.Limits{})
		if n := testing.AllocsPerRun(10000, func() {
			if _, err := dec.Decode(); err != nil {
				t.Fatal(err)
			}
		}); n > c.max {
			t.Errorf("decode, slab boxing %v: %v allocs per frame, want at most %v", c.forge, n, c.max)
		}
		restore()
	}
}
