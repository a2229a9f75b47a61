package rpc

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/internal/mp"
)

// rawPeer is the far end of a connection, speaking frames by hand.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func newRawPeer(t *testing.T, nc net.Conn) *rawPeer {
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("raw write: %v", err)
	}
}

// frame builds a frame of kind k with unsigned fields and a raw payload.
func rawFrame(k kind, payload []byte, fields ...uint64) []byte {
	b := []byte{0, 0, 0, 0, byte(k)}
	for _, v := range fields {
		b = mp.AppendUint(b, v)
	}
	b = append(b, payload...)
	putLen(b)
	return b
}

// readFrame reads one frame and returns its kind and the rest of its body.
func (p *rawPeer) readFrame() (kind, *body) {
	p.t.Helper()
	var hdr [4]byte
	p.nc.SetReadDeadline(clock.Real().Now().Add(10 * time.Second))
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		p.t.Fatalf("raw read: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(p.br, b); err != nil {
		p.t.Fatalf("raw read: %v", err)
	}
	r := &body{b: b}
	return kind(r.uint()), r
}

// readUntil reads frames until one of kind k, skipping heartbeats.
func (p *rawPeer) readUntil(k kind) *body {
	p.t.Helper()
	for {
		got, r := p.readFrame()
		if got == k {
			return r
		}
		if got != kindHeartbeat {
			p.t.Fatalf("raw peer got a %v frame, want %v", got, k)
		}
	}
}

// helloFor is a hello like a real peer's, with the given versions.
func helloFor(versions ...uint64) *hello {
	return &hello{versions: versions, ident: "raw", maxFrame: 1 << 20, window: 64 << 10, maxConcurrent: 16}
}

// listenRaw accepts one connection and hands it to fn as a raw peer.
func listenRaw(t *testing.T, fn func(p *rawPeer)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		fn(newRawPeer(t, nc))
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func patientCtx(t *testing.T) context.Context {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// encodeWith encodes h with menu as its menu.
func (h *hello) encodeWith(menu ...MethodInfo) []byte {
	h.menu = menu
	return h.encode()
}
