package aemp_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
)

// Hostile input: declared lengths far beyond what was sent or allowed,
// deep nesting, floods. Every case must end in a typed error (or
// io.ErrUnexpectedEOF when the stream simply stops), quickly, without
// allocating on the strength of what the peer declared.

type hostile struct {
	name   string
	f      *aemp.Framing
	in     []byte
	reason error // nil: io.ErrUnexpectedEOF
}

func hostileCases() []hostile {
	deep := func(open string, n int) []byte { return []byte(strings.Repeat(open, n)) }
	return []hostile{
		// msgpack: array32/map32/str32/bin32 headers declaring 4G, then nothing.
		{"msgpack array32 4G", aemp.Msgpack, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		{"msgpack map32 4G", aemp.Msgpack, []byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		{"msgpack str32 4G", aemp.Msgpack, []byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		{"msgpack bin32 4G", aemp.Msgpack, []byte{0x91, 0xc6, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		// Within the byte budget but never sent: must not preallocate.
		{"msgpack array32 1M unsent", aemp.Msgpack, []byte{0xdd, 0x00, 0x0f, 0xff, 0xff}, nil},
		{"msgpack map32 1M unsent", aemp.Msgpack, []byte{0x91, 0xdf, 0x00, 0x0f, 0xff, 0xff}, nil},
		{"msgpack str32 16M-1 unsent", aemp.Msgpack, []byte{0x91, 0xdb, 0x00, 0xff, 0xff, 0xf0}, nil},
		{"msgpack array32 2M elements", aemp.Msgpack, []byte{0xdd, 0x00, 0x20, 0x00, 0x00}, aemp.ErrTooManyElements},
		{"msgpack deep", aemp.Msgpack, deep("\x91", 1000), aemp.ErrFrameTooDeep},
		{"msgpack deep maps", aemp.Msgpack, append([]byte{0x91}, bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 1000)...), aemp.ErrFrameTooDeep},
		// cbor: huge heads, indefinite floods, deep nesting.
		{"cbor array 2^64", aemp.CBOR, []byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		{"cbor bytes 2^64", aemp.CBOR, []byte{0x81, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		{"cbor text 4G", aemp.CBOR, []byte{0x81, 0x7a, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		{"cbor map 4G", aemp.CBOR, []byte{0x81, 0xba, 0xff, 0xff, 0xff, 0xff}, aemp.ErrFrameTooLarge},
		{"cbor array 1M unsent", aemp.CBOR, []byte{0x9a, 0x00, 0x0f, 0xff, 0xff}, nil},
		{"cbor bytes 16M-1 unsent", aemp.CBOR, []byte{0x81, 0x5a, 0x00, 0xff, 0xff, 0xf0}, nil},
		{"cbor array 2M elements", aemp.CBOR, []byte{0x9a, 0x00, 0x20, 0x00, 0x00}, aemp.ErrTooManyElements},
		{"cbor deep", aemp.CBOR, deep("\x81", 1000), aemp.ErrFrameTooDeep},
		{"cbor deep indefinite", aemp.CBOR, deep("\x9f", 1000), aemp.ErrFrameTooDeep},
		{"cbor indefinite string flood", aemp.CBOR, append([]byte{0x81, 0x5f}, bytes.Repeat([]byte{0x40}, 1<<16)...), nil},
		// json: deep nesting.
		{"json deep", aemp.JSON, deep("[", 1000), aemp.ErrFrameTooDeep},
		{"json deep objects", aemp.JSON, []byte("[" + strings.Repeat(`{"a":`, 1000)), aemp.ErrFrameTooDeep},
	}
}

func TestHostileInput(t *testing.T) {
	for _, c := range hostileCases() {
		start := clock.Real().Now()
		_, err := c.f.NewDecoder(bufio.NewReader(bytes.NewReader(c.in)), aemp.Limits{}).Decode()
		if c.reason == nil {
			if err != io.ErrUnexpectedEOF {
				t.Errorf("%s: %v, want io.ErrUnexpectedEOF", c.name, err)
			}
		} else if !errors.Is(err, c.reason) {
			t.Errorf("%s: %v, want %v", c.name, err, c.reason)
		}
		if d := clock.Real().Since(start); d > time.Second {
			t.Errorf("%s: took %v", c.name, d)
		}
	}
}

// TestHostileHeaderAllocation: a 5-byte header declaring a huge container
// or string costs the decoder almost nothing. The decoder has first decoded
// one ordinary frame, so that its fixed per-decoder buffers (slabs) exist:
// what is measured is what the hostile bytes cost.
func TestHostileHeaderAllocation(t *testing.T) {
	for _, c := range hostileCases() {
		if len(c.in) > 10 {
			continue
		}
		var ordinary bytes.Buffer
		if err := c.f.NewEncoder(&ordinary, aemp.Limits{}).Encode([]any{"p", "tag", int64(1), []byte("x")}); err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(c.in)
		br := bufio.NewReaderSize(r, 64)
		var dec aemp.Decoder
		bytesPerRun := allocBytes(func() {
			r.Reset(ordinary.Bytes())
			br.Reset(r)
			dec = c.f.NewDecoder(br, aemp.Limits{})
			if _, err := dec.Decode(); err != nil {
				t.Fatal(err)
			}
			r.Reset(c.in)
			br.Reset(r)
		}, func() { _, _ = dec.Decode() })
		if bytesPerRun > 1024 {
			t.Errorf("%s: decoding a %d-byte header allocated %d bytes", c.name, len(c.in), bytesPerRun)
		}
	}
}

// allocBytes returns the bytes allocated by run, averaged over a few runs,
// with setup excluded.
func allocBytes(setup, run func()) uint64 {
	const n = 20
	var total uint64
	var a, b runtime.MemStats
	for range n {
		setup()
		runtime.ReadMemStats(&a)
		run()
		runtime.ReadMemStats(&b)
		total += b.TotalAlloc - a.TotalAlloc
	}
	return total / n
}

// TestOversizedFrames: frames past MaxFrameSize fail without buffering the
// rest, also when the data really is sent.
func TestOversizedFrames(t *testing.T) {
	const limit = 1 << 20
	big := strings.Repeat("x", 10<<20) // 10 MB
	lim := aemp.Limits{MaxFrameSize: limit}
	for _, f := range framings {
		b, err := f.NewEncoder(nil, aemp.Limits{}).Append(nil, []any{big})
		if err != nil {
			t.Fatal(err)
		}
		r := &countingReader{r: bytes.NewReader(b)}
		var dec aemp.Decoder
		var derr error
		used := allocBytes(func() {
			r.r, r.n = bytes.NewReader(b), 0
			dec = f.NewDecoder(bufio.NewReader(r), lim)
		}, func() { _, derr = dec.Decode() })
		if !errors.Is(derr, aemp.ErrFrameTooLarge) {
			t.Errorf("%s: 10 MB string: %v, want ErrFrameTooLarge", f, derr)
		}
		if r.n > limit+64<<10 {
			t.Errorf("%s: read %d bytes of a frame over the %d limit", f, r.n, limit)
		}
		if used > 4*limit {
			t.Errorf("%s: allocated %d bytes for a frame over the %d limit", f, used, limit)
		}
	}
	// A stream of whitespace never makes a JSON frame.
	_, err := aemp.JSON.NewDecoder(bufio.NewReader(strings.NewReader(strings.Repeat(" ", limit+1))), lim).Decode()
	if !errors.Is(err, aemp.ErrFrameTooLarge) {
		t.Errorf("json whitespace flood: %v", err)
	}
	// Many small elements.
	for _, f := range framings {
		b, _ := f.NewEncoder(nil, aemp.Limits{}).Append(nil, manyElems(2000))
		_, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(b)), aemp.Limits{MaxElements: 1999}).Decode()
		if !errors.Is(err, aemp.ErrTooManyElements) {
			t.Errorf("%s: 2000 elements with a limit of 1999: %v", f, err)
		}
		if _, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(b)), aemp.Limits{MaxElements: 2000}).Decode(); err != nil {
			t.Errorf("%s: 2000 elements with a limit of 2000: %v", f, err)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestDepthLimitExact: MaxDepth counts the frame's own list as level 1.
func TestDepthLimitExact(t *testing.T) {
	nest := func(n int) []any {
		v := []any{}
		for range n - 1 {
			v = []any{v}
		}
		return v
	}
	for _, f := range framings {
		ok, _ := f.NewEncoder(nil, aemp.Limits{}).Append(nil, nest(5))
		if _, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(ok)), aemp.Limits{MaxDepth: 5}).Decode(); err != nil {
			t.Errorf("%s: depth 5 with MaxDepth 5: %v", f, err)
		}
		if _, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(ok)), aemp.Limits{MaxDepth: 4}).Decode(); !errors.Is(err, aemp.ErrFrameTooDeep) {
			t.Errorf("%s: depth 5 with MaxDepth 4: %v", f, err)
		}
	}
}
