package aemp_test

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// The node benchmark's message: a tag, an int64 and a 16-byte payload.
var payload16 = []byte("0123456789abcdef")

func benchFrame(i int64) []any { return []any{"bench", i, payload16} }

// cycle is an endless reader over whole frames.
type cycle struct {
	data []byte
	off  int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}

// frameStream encodes n benchmark frames with counters from 1000 up.
func frameStream(b testing.TB, f *aemp.Framing, n int) []byte {
	var buf bytes.Buffer
	enc := f.NewEncoder(&buf, aemp.Limits{})
	for i := range n {
		if err := enc.Encode(benchFrame(int64(1000 + i))); err != nil {
			b.Fatal(err)
		}
	}
	return buf.Bytes()
}

func BenchmarkEncode(b *testing.B) {
	for _, f := range framings {
		b.Run(f.Name(), func(b *testing.B) {
			w := bufio.NewWriterSize(io.Discard, 64<<10)
			enc := f.NewEncoder(w, aemp.Limits{})
			frame := benchFrame(1 << 40)
			b.ReportAllocs()
			for b.Loop() {
				frame[1] = int64(1 << 40) // re-boxed by the compiler statically: no allocation
				if err := enc.Encode(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, f := range framings {
		b.Run(f.Name(), func(b *testing.B) {
			data := frameStream(b, f, 1000)
			dec := f.NewDecoder(bufio.NewReaderSize(&cycle{data: data}, 64<<10), aemp.Limits{})
			b.SetBytes(int64(len(data) / 1000))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.Decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeDecode is one message through encoder, buffer and decoder.
func BenchmarkEncodeDecode(b *testing.B) {
	for _, f := range framings {
		b.Run(f.Name(), func(b *testing.B) {
			var buf bytes.Buffer
			enc := f.NewEncoder(&buf, aemp.Limits{})
			br := bufio.NewReader(&buf)
			dec := f.NewDecoder(br, aemp.Limits{})
			frame := benchFrame(1 << 40)
			b.ReportAllocs()
			for b.Loop() {
				if err := enc.Encode(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := dec.Decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHandshakeHMAC(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		x, _ := aemp.NewHandshaker(aemp.HandshakeConfig{NodeID: "a", Secret: "s", Nonce: "na"})
		y, _ := aemp.NewHandshaker(aemp.HandshakeConfig{NodeID: "b", Secret: "s", Nonce: "nb"})
		lx, ly := lines(x.Start()), lines(y.Start())
		x.Step(ly[0])
		ox, _ := x.Step(ly[1])
		y.Step(lx[0])
		oy, _ := y.Step(lx[1])
		if o, err := x.Step(string(oy.Send)); err != nil || !o.Done {
			b.Fatal(err)
		}
		if o, err := y.Step(string(ox.Send)); err != nil || !o.Done {
			b.Fatal(err)
		}
	}
}
