package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
)

// The limits that bound what peers can make a server hold, each driven
// past its bound: the policy when full is checked, and the memory a
// server holds, measured with runtime.MemStats, stays within the bound
// (with generous margins: the heap also holds the test's own sockets).

// logRecords is a slog.Handler that keeps the messages logged.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// count returns how many records have msg, and the attributes of the last.
func (l *logRecords) count(msg string) (int, map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, attrs := 0, map[string]string{}
	for _, r := range l.recs {
		if r.Message == msg {
			n++
			clear(attrs)
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		}
	}
	return n, attrs
}

// startServer serves cfg on 127.0.0.1 and returns the server and its
// address; the server is closed at the end of the test.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.Close(ctx)
		<-done
	})
	return s, l.Addr().String()
}

// heapInUse returns the bytes of live heap after two collections: the
// batch writers keep big buffers in sync.Pools (internal/batch/bigbuf.go),
// which the first collection only moves to the pools' victim caches — a
// cache that the second frees, not memory anyone holds.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// waitFor polls cond until it holds, or fails the test after patience.
// It is for states of the server that no event announces, such as bytes
// taken from its budget by readers blocked on sockets.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, patience, what, cond)
}

func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), d)
	defer cancel()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
	}
}

// halfOpen connects to addr, reads the server's hello (so the server has
// admitted the connection and is reading ours), then writes prefix and
// nothing more.
func halfOpen(t *testing.T, addr string, prefix []byte) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	readHelloFrame(t, nc)
	if _, err := nc.Write(prefix); err != nil {
		t.Fatal(err)
	}
	return nc
}

func readHelloFrame(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(clock.Real().Now().Add(patience))
	defer nc.SetReadDeadline(time.Time{})
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		t.Fatalf("reading the server's hello: %v", err)
	}
	if _, err := io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
		t.Fatalf("reading the server's hello: %v", err)
	}
}

const patience = 10 * time.Second

// A hello header announcing a large hello costs the server nothing until
// the bytes arrive. Attack: 200 connections announce a 1 MiB hello and
// send 16 bytes of it. Before, each allocated the whole megabyte at once.
func TestAnnouncedHelloIsNotAllocated(t *testing.T) {
	const conns = 200
	s, addr := startServer(t, Config{MaxHandshakes: conns, MaxConns: conns})
	before := heapInUse()
	prefix := binary.BigEndian.AppendUint32(nil, maxHelloSize)
	prefix = append(prefix, make([]byte, 16)...)
	for range conns {
		halfOpen(t, addr, prefix)
	}
	// Every reader is in its first chunk: 4 KiB taken from the budget each.
	waitFor(t, "every handshake reads its hello", func() bool { return s.shared.inUse() == conns*4096 })
	grown := heapInUse() - before
	t.Logf("%d connections announcing %d-byte hellos: heap grew by %d KiB", conns, maxHelloSize, grown>>10)
	if grown > conns*40<<10 { // a goroutine, a socket and 4 KiB each, give or take; announced: 200 MiB
		t.Fatalf("the heap grew by %d bytes for %d announced hellos of %d bytes", grown, conns, maxHelloSize)
	}
}

// Past MaxHandshakes, a new connection abandons the oldest handshake;
// the log says so once per 10 s. Attack: 1000 half-open connections that
// never say anything.
func TestHandshakeLimitAbandonsTheOldest(t *testing.T) {
	const max, conns = 16, 1000
	logs := &logRecords{}
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) // handshakes never time out
	s, addr := startServer(t, Config{MaxHandshakes: max, MaxConns: 2 * conns, Clock: fc, Logger: slog.New(logs)})
	before := heapInUse()
	hello100 := binary.BigEndian.AppendUint32(nil, 100) // a header, and then nothing
	var open []net.Conn
	for i := range conns {
		open = append(open, halfOpen(t, addr, hello100))
		if i >= max {
			// The server made room by abandoning the oldest handshake still
			// open: it hung up on it.
			oldest := open[i-max]
			oldest.SetReadDeadline(clock.Real().Now().Add(patience))
			if n, err := oldest.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("connection %d, abandoned for connection %d: read %d bytes, %v; want the server to hang up", i-max, i, n, err)
			}
			oldest.Close()
		}
	}
	s.mu.Lock()
	pending := s.handshakes.Len()
	s.mu.Unlock()
	if pending != max {
		t.Fatalf("%d handshakes in flight, want %d", pending, max)
	}
	waitFor(t, "the abandoned handshakes end", func() bool { return s.shared.inUse() == max*100 })
	grown := heapInUse() - before
	t.Logf("%d half-open connections, %d handshakes at most: heap grew by %d KiB", conns, max, grown>>10)
	if grown > 8<<20 { // the test's own 1000 sockets included; before: 64 KiB each on the server alone
		t.Fatalf("the heap grew by %d bytes", grown)
	}
	const msg = "rpc server at its limit on handshakes in flight: abandoned the oldest"
	if n, _ := logs.count(msg); n != 1 {
		t.Fatalf("%d log lines for %d abandoned handshakes within 10 s, want 1", n, conns-max)
	}
	fc.Advance(logEvery)
	halfOpen(t, addr, hello100)
	if n, attrs := logs.count(msg); n != 2 || attrs["suppressed"] != "983" {
		t.Fatalf("after 10 s: %d log lines, the last with %v; want 2, the last saying 983 suppressed", n, attrs)
	}
}

// Past MaxConns, a connection is closed at once, unread.
func TestConnectionLimitRefuses(t *testing.T) {
	const max = 4
	logs := &logRecords{}
	s, addr := startServer(t, Config{MaxConns: max, Logger: slog.New(logs)})
	for range max {
		c, err := Dial(patientCtx(t), nil, "tcp", addr, Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.shutdown(&ClosedError{Reason: "test"}, false)
	}
	waitFor(t, "the server holds every connection", func() bool { return len(s.Conns()) == max })
	for range 3 {
		_, err := Dial(patientCtx(t), nil, "tcp", addr, Config{})
		if !errors.Is(err, ErrHandshake) {
			t.Fatalf("connection past the limit: %v, want a failed handshake", err)
		}
	}
	if n, attrs := logs.count("rpc server at its connection limit: refused a connection"); n != 1 || attrs["max_conns"] != "4" {
		t.Fatalf("%d log lines (last %v) for 3 refusals within 10 s, want 1 naming the limit", n, attrs)
	}
}

// hold is a method whose handler holds its request until released.
var hold = NewMethod[[]byte, int]("hold", 1)

type holder struct {
	running, most atomic.Int64
	release       chan struct{}
	started       chan struct{}
}

func newHolder(hs *Handlers) *holder {
	h := &holder{release: make(chan struct{}), started: make(chan struct{}, 10000)}
	hold.Implement(hs, func(ctx context.Context, b []byte) (int, error) {
		n := h.running.Add(1)
		for {
			m := h.most.Load()
			if n <= m || h.most.CompareAndSwap(m, n) {
				break
			}
		}
		h.started <- struct{}{}
		<-h.release
		h.running.Add(-1)
		return len(b), nil
	})
	return h
}

// MaxRequestBytes per connection: the caller learns it in the handshake
// and waits for room, so that nothing is refused; a peer that ignores it
// is refused without running.
func TestRequestBytesPerConnection(t *testing.T) {
	var hs Handlers
	h := newHolder(&hs)
	_, addr := startServer(t, Config{Handlers: &hs, MaxRequestBytes: 64 << 10})
	c, err := Dial(patientCtx(t), nil, "tcp", addr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.shutdown(&ClosedError{Reason: "test"}, false)
	req := make([]byte, 16<<10-3) // 16 KiB encoded
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if n, err := hold.Call(patientCtx(t), c, req); err != nil || n != len(req) {
				t.Errorf("call = %d, %v", n, err)
			}
		})
	}
	for range 4 {
		<-h.started
	}
	waitFor(t, "the other callers wait for room", func() bool {
		c.quota.mu.Lock()
		defer c.quota.mu.Unlock()
		return len(c.quota.waiters) == 6
	})
	close(h.release)
	wg.Wait()
	if m := h.most.Load(); m != 4 {
		t.Fatalf("%d handlers held requests at once, want 4 (64 KiB of 16 KiB requests)", m)
	}
}

func TestRequestBytesPerConnectionRefusesAPeerThatIgnoresIt(t *testing.T) {
	var hs Handlers
	h := newHolder(&hs)
	p, menu := serveRaw(t, Config{Handlers: &hs, MaxRequestBytes: 64 << 10})
	if menu.maxRequest != 64<<10 {
		t.Fatalf("the hello announces %d request bytes, want %d", menu.maxRequest, 64<<10)
	}
	req := msgpackBytes(make([]byte, 16<<10-3))
	for id := range uint64(6) {
		p.write(rawFrame(kindCall, req, id+1, 0, 0))
	}
	for range 2 {
		r := p.readUntil(kindError)
		if id, code := r.uint(), r.uint(); id < 5 || code != codeResourceExhausted {
			t.Fatalf("error frame for call %d, code %d; want calls 5 and 6 refused, code %d", id, code, codeResourceExhausted)
		}
	}
	for range 4 {
		<-h.started
	}
	close(h.release)
	for range 4 {
		p.readUntil(kindReply)
	}
	if m := h.most.Load(); m != 4 {
		t.Fatalf("%d handlers ran at once, want 4", m)
	}
}

// MaxServerBytes across a server: requests held by slow handlers past it
// are refused without running, and the server's heap stays within it.
// Attack: 64 calls of 1 MiB to handlers that hold them (before: 762 MB
// for 600).
func TestServerBytesBoundSlowHandlers(t *testing.T) {
	const calls, size, bound = 64, 1 << 20, 8 << 20
	var hs Handlers
	h := newHolder(&hs)
	s, addr := startServer(t, Config{Handlers: &hs, MaxServerBytes: bound, MaxRequestBytes: 1 << 30, MaxFrameSize: 2 << 20})
	c, err := Dial(patientCtx(t), nil, "tcp", addr, Config{MaxFrameSize: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.shutdown(&ClosedError{Reason: "test"}, false)
	before := heapInUse()
	req := bytes.Repeat([]byte{'x'}, size)
	var wg sync.WaitGroup
	var refused, served atomic.Int64
	for range calls {
		wg.Go(func() {
			ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 60*time.Second) // 64 MiB under -race, on a loaded machine
			defer cancel()
			_, err := hold.Call(ctx, c, req)
			switch {
			case err == nil:
				served.Add(1)
			case errors.Is(err, ErrResourceExhausted):
				refused.Add(1)
			default:
				t.Errorf("call = %v, want success or ErrResourceExhausted", err)
			}
		})
	}
	running := 0
	waitWithin(t, time.Minute, "every call is running or refused", func() bool {
		for len(h.started) > 0 {
			<-h.started
			running++
		}
		return int64(running)+refused.Load() == calls
	})
	grown := heapInUse() - before
	held := s.shared.inUse()
	t.Logf("%d calls of %d bytes: %d running, %d refused; the server holds %d bytes; heap grew by %d KiB",
		calls, size, running, refused.Load(), held, grown>>10)
	if held > bound || running > bound/size || running == 0 {
		t.Fatalf("%d running, holding %d bytes: want at most %d bytes", running, held, bound)
	}
	if grown > 3*bound { // the bound, the client's write buffer, slack; unbounded: 64 MiB and more
		t.Fatalf("the heap grew by %d bytes, past three times the bound of %d", grown, bound)
	}
	close(h.release)
	wg.Wait()
	if served.Load() != int64(running) {
		t.Fatalf("%d served, %d had started", served.Load(), running)
	}
	if s.shared.inUse() != 0 {
		t.Fatalf("the server still holds %d bytes after every call", s.shared.inUse())
	}
}

// A TCP health probe — connect, hang up — is logged at DEBUG, not INFO.
func TestHealthProbeLogsAtDebug(t *testing.T) {
	logs := &logRecords{}
	_, addr := startServer(t, Config{Logger: slog.New(logs)})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	readHelloFrame(t, nc)
	nc.Close()
	waitFor(t, "the probe is logged", func() bool { n, _ := logs.count("handshake failed"); return n == 1 })
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, r := range logs.recs {
		if r.Level > slog.LevelDebug {
			t.Fatalf("a health probe logged %q at %v", r.Message, r.Level)
		}
	}
}
