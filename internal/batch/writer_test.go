package batch_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/tetherkit/tether/internal/batch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gate is an io.Writer that records each Write call and blocks while closed.
type gate struct {
	mu     sync.Mutex
	calls  int
	buf    bytes.Buffer
	open   chan struct{}
	fail   error
	writes chan int // sizes of writes, as they start
}

func newGate() *gate { return &gate{open: make(chan struct{}), writes: make(chan int, 1000)} }

func (g *gate) Write(p []byte) (int, error) {
	g.writes <- len(p)
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return 0, g.fail
	}
	g.calls++
	return g.buf.Write(p)
}

func frame(i uint32) []byte { return binary.BigEndian.AppendUint32(nil, i) }

func TestOrderAndBatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		w := batch.NewWriter(g, 1<<20, nil)
		defer w.Close()
		ctx := context.Background()
		w.Write(ctx, frame(0)) // the first write starts and blocks in the gate
		<-g.writes
		for i := uint32(1); i < 1000; i++ {
			if err := w.Write(ctx, frame(i)); err != nil {
				t.Fatal(err)
			}
		}
		close(g.open)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := g.buf.Bytes()
		for i := range uint32(1000) {
			if v := binary.BigEndian.Uint32(got[4*i:]); v != i {
				t.Fatalf("frame %d is %d: order lost", i, v)
			}
		}
		// 1 write for frame 0, then the 999 queued meanwhile in one.
		if g.calls != 2 {
			t.Fatalf("%d write calls, want 2: frames queued during a write go out together", g.calls)
		}
	})
}

func TestConcurrentWritersKeepFramesWhole(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := batch.NewWriter(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), 4096, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				f := bytes.Repeat([]byte{byte(g)}, 1+i%50)
				f = append([]byte{byte(len(f))}, f...)
				if err := w.Write(context.Background(), f); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	w.Flush(context.Background())
	w.Close()
	b := out.Bytes()
	n := 0
	for len(b) > 0 {
		l := int(b[0])
		body := b[1 : 1+l]
		for _, c := range body {
			if c != body[0] {
				t.Fatalf("frame %d mixes writers: %v", n, body)
			}
		}
		b = b[1+l:]
		n++
	}
	if n != 8*2000 {
		t.Fatalf("%d frames, want %d", n, 8*2000)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestBoundedQueuePushesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		w := batch.NewWriter(g, 100, nil)
		defer w.Close()
		ctx := context.Background()
		w.Write(ctx, make([]byte, 10)) // being written, held by the gate
		<-g.writes
		w.Write(ctx, make([]byte, 60)) // queued: 60 of 100
		blocked := make(chan error, 1)
		go func() { blocked <- w.Write(ctx, make([]byte, 60)) }() // would make 120
		synctest.Wait()
		if len(blocked) != 0 {
			t.Fatal("a Write past the limit did not wait")
		}
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := w.Write(tctx, make([]byte, 60)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write with an expiring context = %v, want DeadlineExceeded", err)
		}
		close(g.open) // the writer catches up
		if err := <-blocked; err != nil {
			t.Fatalf("waiting Write = %v", err)
		}
		// A frame bigger than the limit still goes through an empty queue.
		w.Flush(ctx)
		if err := w.Write(ctx, make([]byte, 500)); err != nil {
			t.Fatalf("big frame into an empty queue = %v", err)
		}
	})
}

func TestWriteErrorStopsTheWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("broken pipe")
		g := newGate()
		g.fail = boom
		close(g.open)
		var failures []error
		var mu sync.Mutex
		w := batch.NewWriter(g, 1<<10, func(err error) { mu.Lock(); failures = append(failures, err); mu.Unlock() })
		w.Write(context.Background(), []byte("x"))
		<-w.Done()
		if err := w.Write(context.Background(), []byte("y")); err != boom {
			t.Fatalf("Write after failure = %v, want the write error", err)
		}
		if err := w.Flush(context.Background()); err != boom {
			t.Fatalf("Flush after failure = %v", err)
		}
		w.Close()
		synctest.Wait() // fail runs after Done has closed
		if len(failures) != 1 || failures[0] != boom {
			t.Fatalf("fail called with %v, want once with the write error", failures)
		}
	})
}

// The owner of a writer typically closes everything when a write fails,
// the writer included, from fail: that must not wait for itself.
func TestFailMayCloseTheWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		g.fail = errors.New("connection reset")
		close(g.open)
		closed := make(chan struct{})
		var w *batch.Writer
		w = batch.NewWriter(g, 1<<10, func(error) { w.Close(); close(closed) })
		w.Write(context.Background(), []byte("x"))
		synctest.Wait()
		select {
		case <-closed:
		default:
			t.Fatal("Close called from fail did not return")
		}
	})
}

func TestCloseReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		w := batch.NewWriter(g, 10, nil)
		w.Write(context.Background(), make([]byte, 5))
		<-g.writes
		w.Write(context.Background(), make([]byte, 8))
		waiting := make(chan error, 2)
		go func() { waiting <- w.Write(context.Background(), make([]byte, 8)) }()
		go func() { waiting <- w.Flush(context.Background()) }()
		synctest.Wait()
		closed := make(chan struct{})
		go func() { w.Close(); close(closed) }()
		synctest.Wait()
		for range 2 {
			if err := <-waiting; !errors.Is(err, batch.ErrClosed) {
				t.Fatalf("waiter after Close = %v, want ErrClosed", err)
			}
		}
		close(g.open) // the write in progress finishes, then the goroutine returns
		<-closed
		if err := w.Append(func(b []byte) ([]byte, error) { return append(b, 1), nil }); !errors.Is(err, batch.ErrClosed) {
			t.Fatalf("Append after Close = %v", err)
		}
	})
}

func TestAppend(t *testing.T) {
	var out bytes.Buffer
	w := batch.NewWriter(&out, 1<<10, nil)
	w.Append(func(b []byte) ([]byte, error) { return append(b, "abc"...), nil })
	bad := errors.New("no")
	if err := w.Append(func(b []byte) ([]byte, error) { return append(b, "zzz"...), bad }); err != bad {
		t.Fatalf("Append = %v, want the build error", err)
	}
	w.Write(context.Background(), []byte("def"))
	w.Flush(context.Background())
	w.Close()
	if out.String() != "abcdef" {
		t.Fatalf("wrote %q, want abcdef (a failed build queues nothing)", out.String())
	}
}

var _ io.Writer = (*gate)(nil)

func TestWriteFuncWaitsForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		w := batch.NewWriter(g, 10, nil)
		defer w.Close()
		ctx := context.Background()
		w.Write(ctx, make([]byte, 5)) // being written
		<-g.writes
		w.Write(ctx, make([]byte, 10)) // queued: the queue is full
		done := make(chan error, 1)
		go func() {
			done <- w.WriteFunc(ctx, func(b []byte) ([]byte, error) { return append(b, 'x'), nil })
		}()
		synctest.Wait()
		if len(done) != 0 {
			t.Fatal("WriteFunc did not wait for room")
		}
		close(g.open)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
