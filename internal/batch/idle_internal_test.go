package batch

import (
	"context"
	"io"
	"sync"
	"testing"
)

// After a burst, an idle writer gives its grown buffers back.
func TestIdleWriterGivesBuffersBack(t *testing.T) {
	gate := make(chan struct{})
	w := &gatedWriter{gate: gate}
	bw := NewWriter(w, 64<<20, nil)
	defer bw.Close()
	frame := make([]byte, 1000)
	for range 2000 { // 2 MB queued behind the first write, which waits
		if err := bw.Write(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	if err := bw.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	bw.Append(func(b []byte) ([]byte, error) { return append(b, 'x'), nil }) // one small frame after
	if err := bw.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	bw.mu.Lock()
	defer bw.mu.Unlock()
	if cap(bw.pending) >= poolMin || cap(bw.spare) >= poolMin {
		t.Fatalf("idle buffers of %d and %d bytes, want less than %d each", cap(bw.pending), cap(bw.spare), poolMin)
	}
}

// A writer that went idle after a batch takes room for one like it when
// frames come again, rather than grow a buffer from nothing, step by step.
func TestIdleWriterTakesRoomForItsNextBatch(t *testing.T) {
	bw := NewWriter(io.Discard, 64<<20, nil)
	defer bw.Close()
	frame := make([]byte, 100)
	ctx := context.Background()
	for round := range 3 {
		// One batch of 3000 bytes: busy (as if a caller were writing) keeps
		// the writer goroutine off it until it is whole.
		bw.mu.Lock()
		bw.busy = true
		grows := 0
		for range 30 {
			c := cap(bw.pending)
			if err := bw.appendLocked(func(b []byte) ([]byte, error) { return append(b, frame...), nil }); err != nil {
				t.Fatal(err)
			}
			bw.mu.Lock()
			if cap(bw.pending) != c {
				grows++
			}
		}
		bw.busy = false
		bw.mu.Unlock()
		bw.signal()
		if err := bw.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		switch {
		case round == 0 && grows < 3:
			t.Fatalf("the first batch grew its buffer %d times: the test tests nothing", grows)
		case round > 0 && grows > 1:
			t.Errorf("batch %d grew its buffer %d times, want at most once (the room it takes first)", round, grows)
		}
		bw.mu.Lock()
		if bw.lastLen != 3000 {
			t.Errorf("lastLen %d, want 3000", bw.lastLen)
		}
		idle := cap(bw.pending) < poolMin && cap(bw.spare) < poolMin
		bw.mu.Unlock()
		if !idle {
			t.Errorf("batch %d: the idle writer kept its big buffers", round)
		}
	}
}

// gatedWriter blocks its first Write until gate closes.
type gatedWriter struct {
	gate  chan struct{}
	mu    sync.Mutex
	wrote int
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.gate
	g.mu.Lock()
	g.wrote += len(p)
	g.mu.Unlock()
	return len(p), nil
}
