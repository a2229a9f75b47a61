package batch

import (
	"context"
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
	if cap(bw.pending) > idleKeep || cap(bw.spare) > idleKeep {
		t.Fatalf("idle buffers of %d and %d bytes, want at most %d each", cap(bw.pending), cap(bw.spare), idleKeep)
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
