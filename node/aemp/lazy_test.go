package aemp_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/tetherkit/tether/node/aemp"
)

// checkLazy decodes data with Decode and with DecodeLazy and an Unpacker,
// through a small and a large read buffer, and checks that the two agree
// frame by frame: the same values, and the same errors.
func checkLazy(t *testing.T, data []byte) {
	t.Helper()
	for _, c := range []struct {
		size   int
		source func([]byte) io.Reader
	}{
		{16, bytesReader},
		{64 << 10, bytesReader},
		{64 << 10, oneByteReader}, // frames trickle in: DecodeLazy hands them to Decode
	} {
		size := c.size
		eager := aemp.Msgpack.NewDecoder(bufio.NewReaderSize(c.source(data), size), fuzzLimits)
		lazy := aemp.Msgpack.NewDecoder(bufio.NewReaderSize(c.source(data), size), fuzzLimits).(aemp.LazyDecoder)
		u := aemp.NewUnpacker(fuzzLimits)
		for i := 0; ; i++ {
			want, wantErr := eager.Decode()
			got, to, rest, err := lazy.DecodeLazy()
			if rest.Len() > 0 {
				if err != nil || got != nil || len(to) == 0 {
					t.Fatalf("%x frame %d: DecodeLazy returned frame %s, to %q, a rest and %v", data, i, show(got), to, err)
				}
				msg, uerr := u.Unpack(&rest)
				if uerr != nil || rest.Len() != 0 {
					t.Fatalf("%x frame %d: Unpack of a checked rest: %v, %d bytes left", data, i, uerr, rest.Len())
				}
				got = append([]any{string(to)}, msg...)
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

func bytesReader(b []byte) io.Reader   { return bytes.NewReader(b) }
func oneByteReader(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }

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
	var empty aemp.Rest
	if l, err := u.Unpack(&empty); err == nil {
		t.Errorf("Unpack of the zero Rest = %s, want an error", show(l))
	}
	for _, in := range [][]byte{{0x92, 0x01}, {0xc1}, {0x01}, {0x91, 0xc1}} {
		r := aemp.RestOf(in)
		if l, err := u.Unpack(&r); err == nil {
			t.Errorf("Unpack(%x) = %s, want an error", in, show(l))
		}
	}
	// A message and then something else: the message, and an error for
	// what follows.
	r := aemp.RestOf([]byte{0x91, 0x01, 0x02})
	l, err := u.Unpack(&r)
	if err != nil || len(l) != 1 || l[0] != int64(1) || r.Len() != 1 {
		t.Fatalf("Unpack(91 01 02) = %s, %v, with %d bytes left; want [1], nil, 1", show(l), err, r.Len())
	}
	if _, err := u.Unpack(&r); err == nil {
		t.Error("Unpack(02) succeeded")
	}
}

// lazyStream encodes frames and returns a lazy decoder reading them.
func lazyStream(t *testing.T, frames [][]any) aemp.LazyDecoder {
	t.Helper()
	var stream bytes.Buffer
	enc := aemp.Msgpack.NewEncoder(&stream, aemp.Limits{})
	for _, fr := range frames {
		if err := enc.Encode(fr); err != nil {
			t.Fatal(err)
		}
	}
	return aemp.Msgpack.NewDecoder(bufio.NewReaderSize(&stream, 64<<10), aemp.Limits{}).(aemp.LazyDecoder)
}

// TestJoinRest: the rests of consecutive small frames join into one, which
// an Unpacker takes apart into the same messages; a rest with its own
// allocation, or rests given out of order, do not join.
func TestJoinRest(t *testing.T) {
	frames := [][]any{
		{"p", "bench", int64(1), []byte("abcdefghijklmnop")},
		{"p", "bench", int64(2)},
		{"p", []any{"nested", map[string]any{"k": nil}}, 2.5},
		{"p", string(make([]byte, 5000))}, // a rest of its own
		{"p", "after"},
		{"p", "last"},
	}
	dec := lazyStream(t, frames)
	var rests []aemp.Rest
	for range frames {
		_, _, rest, err := dec.DecodeLazy()
		if err != nil || rest.Len() == 0 {
			t.Fatalf("DecodeLazy: rest of %d bytes, %v", rest.Len(), err)
		}
		rests = append(rests, rest)
	}
	for _, c := range []struct {
		a, b int
		what string
	}{{1, 0, "rests out of order"}, {0, 2, "rests with one between"}, {2, 3, "a rest with its own allocation"}, {3, 4, "a rest to one with its own allocation"}} {
		if r := rests[c.a]; r.Join(rests[c.b]) {
			t.Errorf("joined %s", c.what)
		}
	}
	joined := rests[0]
	for _, r := range rests[1:3] {
		if !joined.Join(r) {
			t.Fatalf("consecutive rests did not join")
		}
	}
	last := rests[4]
	if !last.Join(rests[5]) {
		t.Fatalf("consecutive rests after a large one did not join")
	}
	u := aemp.NewUnpacker(aemp.Limits{})
	i := 0
	for _, r := range []aemp.Rest{joined, rests[3], last} {
		for r.Len() > 0 {
			msg, err := u.Unpack(&r)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if want := frames[i][1:]; !equal(msg, want, false) {
				t.Errorf("message %d = %s, want %s", i, show(msg), show(want))
			}
			i++
		}
	}
	if i != len(frames) {
		t.Errorf("unpacked %d messages, want %d", i, len(frames))
	}
}

// TestRestChunksRecycle: a chunk of rests is read into again once every
// rest in it has been unpacked, and not before; what was unpacked stays as
// it was (nothing unpacked refers to a chunk's bytes).
func TestRestChunksRecycle(t *testing.T) {
	const n = 40000 // ~80 chunks of rests
	frames := make([][]any, n)
	for i := range frames {
		frames[i] = []any{"p", "tag", int64(i) << 20, []byte(fmt.Sprintf("payload %08d", i)), fmt.Sprintf("a string longer than thirty-two bytes, number %08d", i)}
	}
	// Even rests are unpacked at once, odd ones held back a few chunks'
	// worth: chunks are in use by the decoder, by unpacked rests and by
	// rests still to unpack, all at once.
	const window = 1500
	dec := lazyStream(t, frames)
	u := aemp.NewUnpacker(aemp.Limits{})
	var (
		held   []aemp.Rest
		got    = make([][]any, n)
		chunks = map[any]int{}
		last   any
		taken  int
	)
	unpack := func(i int, r *aemp.Rest) {
		msg, err := u.Unpack(r)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = msg
	}
	odd := 1
	for i := range frames {
		_, _, rest, err := dec.DecodeLazy()
		if err != nil {
			t.Fatal(err)
		}
		if c := aemp.ChunkOf(rest); c != last {
			chunks[c]++ // one more time the decoder took a chunk
			last, taken = c, taken+1
		}
		if i%2 == 0 {
			unpack(i, &rest)
			continue
		}
		if held = append(held, rest); len(held) > window {
			unpack(odd, &held[0])
			held, odd = held[1:], odd+2
		}
	}
	for ; len(held) > 0; held, odd = held[1:], odd+2 {
		unpack(odd, &held[0])
	}
	for i, msg := range got {
		if want := frames[i][1:]; !equal(msg, want, false) {
			t.Fatalf("message %d = %s, want %s: a chunk was read into before all of it was unpacked", i, show(msg), show(want))
		}
	}
	// Chunks are recycled through a sync.Pool, which may drop some (the
	// race detector's drops a quarter on purpose): most must come back.
	if len(chunks) > taken/2 {
		t.Errorf("the decoder took %d chunks, %d of them new: they are not recycled", taken, len(chunks))
	}
}

// TestQuietDecoderLetsChunkGo: a decoder that has decoded all it read —
// its link gone quiet — holds no chunk of rests, and a rest it carved
// before stays whole until unpacked, while the decoder carves new ones
// from other chunks.
func TestQuietDecoderLetsChunkGo(t *testing.T) {
	frames := [][]any{
		{"p", "one", int64(1) << 40, []byte("abcdefghijklmnop")},
		{"p", "two", int64(2) << 40, []byte("qrstuvwxyzabcdef")},
		{"p", "three", int64(3) << 40},
	}
	var reads [][]byte // a frame per read, as a quiet link delivers them
	for _, fr := range frames {
		var b bytes.Buffer
		if err := aemp.Msgpack.NewEncoder(&b, aemp.Limits{}).Encode(fr); err != nil {
			t.Fatal(err)
		}
		reads = append(reads, b.Bytes())
	}
	dec := aemp.Msgpack.NewDecoder(bufio.NewReader(&readByRead{reads: reads}), aemp.Limits{}).(aemp.LazyDecoder)
	u := aemp.NewUnpacker(aemp.Limits{})
	var held []aemp.Rest
	for i := range frames {
		_, _, rest, err := dec.DecodeLazy()
		if err != nil || rest.Len() == 0 {
			t.Fatalf("frame %d: rest of %d bytes, %v", i, rest.Len(), err)
		}
		if dec.Buffered() != 0 {
			t.Fatalf("frame %d: %d bytes still buffered: the test tests nothing", i, dec.Buffered())
		}
		if c := aemp.HeldChunk(dec); c != nil {
			t.Errorf("frame %d: the decoder still holds its chunk with nothing buffered", i)
		}
		held = append(held, rest)
	}
	for i := range held {
		msg, err := u.Unpack(&held[i])
		if err != nil {
			t.Fatal(err)
		}
		if want := frames[i][1:]; !equal(msg, want, false) {
			t.Errorf("message %d = %s, want %s", i, show(msg), show(want))
		}
	}
}

// readByRead returns one of its reads per Read.
type readByRead struct{ reads [][]byte }

func (r *readByRead) Read(p []byte) (int, error) {
	if len(r.reads) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.reads[0])
	if r.reads[0] = r.reads[0][n:]; len(r.reads[0]) == 0 {
		r.reads = r.reads[1:]
	}
	return n, nil
}
