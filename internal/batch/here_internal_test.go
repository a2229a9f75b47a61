package batch

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// countedConn is a TCP connection whose Write (the writer goroutine's way
// out) is counted; AppendHere's raw writes go around it.
type countedConn struct {
	*net.TCPConn
	writes atomic.Int64
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.TCPConn.Write(p)
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

func appendBytes(p []byte) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) { return append(b, p...), nil }
}

// On an idle writer, AppendHere's frame is written by its caller; behind
// queued frames it waits its turn like any other.
func TestAppendHereWritesOnAnIdleWriter(t *testing.T) {
	a, b := tcpPair(t)
	c := &countedConn{TCPConn: a}
	w := NewWriter(c, 1<<20, nil)
	defer w.Close()

	if err := w.AppendHere(appendBytes([]byte("beat"))); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "beat" {
		t.Fatalf("read %q, %v", got, err)
	}
	if n := c.writes.Load(); n != 0 {
		t.Fatalf("the writer goroutine wrote %d times; the frame on an idle writer should have been written by its caller", n)
	}

	// Behind a burst, in order.
	const burst = 10000
	done := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(io.LimitReader(b, burst*4))
		done <- all
	}()
	for i := range uint32(burst) {
		f := binary.BigEndian.AppendUint32(nil, i)
		var err error
		if i%100 == 0 {
			err = w.AppendHere(appendBytes(f))
		} else {
			err = w.Write(context.Background(), f)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	all := <-done
	for i := range uint32(burst) {
		if v := binary.BigEndian.Uint32(all[4*i:]); v != i {
			t.Fatalf("frame %d is %d: order lost", i, v)
		}
	}
	if c.writes.Load() == 0 {
		t.Fatal("the writer goroutine never wrote: the burst should have gone through it")
	}
}

// A frame the socket takes only in part, written by its caller, is
// finished by the goroutine before anything queued meanwhile; frames from
// many goroutines arrive whole and in each goroutine's order.
func TestAppendHereKeepsOrderAndFramesWhole(t *testing.T) {
	a, b := tcpPair(t)
	w := NewWriter(a, 1<<20, nil)
	defer w.Close()
	ctx := context.Background()

	const writers, each = 8, 300
	big := bytes.Repeat([]byte{0xEE}, 8<<20)
	start, bigDone := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(bigDone)
		<-start
		// The socket takes a part: the caller writes it, the goroutine the rest.
		if err := w.AppendHere(appendBytes(frameOf(0xFF, big))); err != nil {
			t.Error(err)
		}
	})
	for g := range writers {
		wg.Go(func() {
			<-start
			// Start while the big frame is being written (or once it is).
			for busy := false; !busy; {
				select {
				case <-bigDone:
					busy = true
				default:
					w.mu.Lock()
					busy = w.busy
					w.mu.Unlock()
					runtime.Gosched()
				}
			}
			for i := range each {
				body := binary.BigEndian.AppendUint32([]byte{byte(g)}, uint32(i))
				var err error
				if i%10 == 0 {
					err = w.AppendHere(appendBytes(frameOf(byte(g), body)))
				} else {
					err = w.Write(ctx, frameOf(byte(g), body))
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	all := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(io.LimitReader(b, int64(5+len(big)+writers*each*(5+5))))
		all <- got
	}()
	close(start)
	wg.Wait()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rest := <-all

	next := make([]uint32, writers)
	frames, bigs := 0, 0
	for len(rest) > 0 {
		var kind byte
		var body []byte
		kind, body, rest = parseFrame(t, rest)
		if kind == 0xFF {
			if !bytes.Equal(body, big) {
				t.Fatalf("frame %d: the big frame is torn", frames)
			}
			bigs++
			continue
		}
		g := int(kind)
		if g >= writers || len(body) != 5 || body[0] != kind {
			t.Fatalf("frame %d is torn or mixed: kind %d, body %x", frames, kind, body)
		}
		if i := binary.BigEndian.Uint32(body[1:]); i != next[g] {
			t.Fatalf("writer %d: frame %d arrived where %d was due", g, i, next[g])
		}
		next[g]++
		frames++
	}
	if frames != writers*each || bigs != 1 {
		t.Fatalf("%d small frames and %d big arrived, want %d and 1", frames, bigs, writers*each)
	}
}

// frameOf is kind, a 4-byte length, and body.
func frameOf(kind byte, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{kind}, uint32(len(body))), body...)
}

func parseFrame(t *testing.T, b []byte) (kind byte, body, rest []byte) {
	t.Helper()
	if len(b) < 5 {
		t.Fatalf("a torn frame header: %x", b)
	}
	n := int(binary.BigEndian.Uint32(b[1:]))
	if len(b) < 5+n {
		t.Fatalf("a torn frame: %d of %d bytes", len(b)-5, n)
	}
	return b[0], b[5 : 5+n], b[5+n:]
}

// WriteHere is AppendHere with Write's wait for room: on an idle writer
// its caller writes the frame.
func TestWriteHereWritesOnAnIdleWriter(t *testing.T) {
	a, b := tcpPair(t)
	c := &countedConn{TCPConn: a}
	w := NewWriter(c, 1<<20, nil)
	defer w.Close()
	if !w.CanWriteHere() {
		t.Fatal("a TCP connection cannot be written from the caller")
	}
	ctx := context.Background()
	got := make([]byte, 4)
	for range 2 {
		if err := w.WriteHere(ctx, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(b, got); err != nil || string(got) != "ping" {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	if n := c.writes.Load(); n != 0 {
		t.Fatalf("the writer goroutine wrote %d times; frames on an idle writer should have been written by their caller", n)
	}
	// On a connection without a raw socket, it is Write.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	pw := NewWriter(p1, 1<<20, nil)
	defer pw.Close()
	if pw.CanWriteHere() {
		t.Fatal("a pipe can be written from the caller")
	}
	if err := pw.WriteHere(ctx, []byte("pipe")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(p2, got); err != nil || string(got) != "pipe" {
		t.Fatalf("read %q, %v", got, err)
	}
}
