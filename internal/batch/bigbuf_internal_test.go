package batch

import (
	"bytes"
	"context"
	"io"
	"testing"
)

func TestTakeBigKeepsBytesAndRoom(t *testing.T) {
	b := bytes.Repeat([]byte("ab"), poolMin) // twice poolMin
	for _, want := range []int{2 * len(b), 3*len(b) + 1, 1 << 20} {
		got := takeBig(b, want)
		if !bytes.Equal(got, b) {
			t.Fatalf("want %d: the bytes changed", want)
		}
		if cap(got) < want {
			t.Fatalf("want %d: cap %d", want, cap(got))
		}
		if !putBig(got) {
			t.Fatalf("a buffer of cap %d did not go to the pools", cap(got))
		}
	}
	if putBig(make([]byte, 10, poolMin-1)) {
		t.Fatal("a small buffer went to the pools")
	}
}

// A batch that grows past poolMin gets room for twice itself (or twice
// the last big batch), so that a stream of batches does not regrow its
// buffer at every step of append's growth.
func TestGrownBatchGetsRoom(t *testing.T) {
	bw := NewWriter(io.Discard, 64<<20, nil)
	defer bw.Close()
	frame := make([]byte, 1000)
	bw.mu.Lock()
	bw.lastLen = 1 << 20
	bigGrows := 0
	for range 100 { // 100 KB: past poolMin, below the last batch
		c := cap(bw.pending)
		b := append(bw.pending, frame...)
		if cap(b) != c {
			b = bw.grown(b)
			if c >= poolMin {
				bigGrows++
			}
		}
		bw.pending = b
	}
	if cap(bw.pending) < 2<<20 {
		t.Errorf("cap %d after the batch passed poolMin, want at least twice the last batch", cap(bw.pending))
	}
	if bigGrows > 0 {
		t.Errorf("the big buffer grew %d times", bigGrows)
	}
	bw.pending = nil
	bw.mu.Unlock()
	if err := bw.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A sender that runs its writer dry between bursts (a lull after each)
// does not pay for its buffers again at every burst.
func BenchmarkBurstsWithLulls(b *testing.B) {
	bw := NewWriter(io.Discard, 64<<20, nil)
	defer bw.Close()
	frame := make([]byte, 44)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(10000 * int64(len(frame)))
	for b.Loop() {
		for range 10000 {
			bw.Append(func(p []byte) ([]byte, error) { return append(p, frame...), nil })
		}
		if err := bw.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// Writing a small frame allocates nothing: putBig, called on every batch,
// allocates only for the big buffers it keeps.
func TestSmallBuffersStayOffThePools(t *testing.T) {
	small := make([]byte, 100, poolMin-1)
	if n := testing.AllocsPerRun(100, func() { putBig(small) }); n != 0 {
		t.Errorf("putBig of a small buffer: %v allocations", n)
	}
}
