package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
)

func TestHandshakeTimeout(t *testing.T) {
	silent := make(chan struct{})
	addr := listenRaw(t, func(p *rawPeer) { <-silent }) // accepts, says nothing
	defer close(silent)
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	res := make(chan error, 1)
	go func() {
		_, err := Dial(context.Background(), nil, "tcp", addr, Config{Clock: fc, HandshakeTimeout: 30 * time.Second})
		res <- err
	}()
	// One timer bounds dialing and the hello exchange together.
	if err := fc.BlockUntilContext(patientCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(29 * time.Second)
	select {
	case err := <-res:
		t.Fatalf("handshake gave up before the timeout: %v", err)
	default:
	}
	fc.Advance(time.Second)
	err := <-res
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "30s") {
		t.Fatalf("Dial = %v, want a handshake timeout after 30s", err)
	}
}

func TestVersionNegotiation(t *testing.T) {
	for _, tc := range []struct {
		peer    []uint64
		want    int
		wantErr string
	}{
		{peer: []uint64{1}, want: 1},
		{peer: []uint64{1, 2, 9}, want: 2},
		{peer: []uint64{1, 9}, want: 1},
		{peer: []uint64{7, 8}, wantErr: "no common protocol version: we speak [1 2], the peer speaks [7 8]"},
	} {
		addr := listenRaw(t, func(p *rawPeer) {
			p.write(helloFor(tc.peer...).encode())
			io.Copy(io.Discard, p.nc) // whatever comes, till the client hangs up
		})
		c, err := Dial(patientCtx(t), nil, "tcp", addr, Config{})
		if tc.wantErr != "" {
			if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("peer versions %v: Dial = %v, want %q", tc.peer, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("peer versions %v: %v", tc.peer, err)
		}
		if c.Peer().Protocol != tc.want || c.Peer().Identification != "raw" {
			t.Fatalf("peer versions %v: negotiated %+v", tc.peer, c.Peer())
		}
		c.shutdown(&ClosedError{Reason: "test"}, false)
	}
}

func TestHandshakeWithSomethingElse(t *testing.T) {
	addr := listenRaw(t, func(p *rawPeer) { p.write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
	_, err := Dial(patientCtx(t), nil, "tcp", addr, Config{})
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "not a hello") {
		t.Fatalf("Dial to an HTTP server = %v", err)
	}
	// A frame of the right size but the wrong contents.
	addr = listenRaw(t, func(p *rawPeer) { p.write(rawFrame(kindHello, []byte{0xa3, 'x', 'y', 'z'})) })
	_, err = Dial(patientCtx(t), nil, "tcp", addr, Config{})
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "bad magic") {
		t.Fatalf("Dial to a stranger = %v", err)
	}
}

func TestValidatePeer(t *testing.T) {
	addr := listenRaw(t, func(p *rawPeer) { p.write(helloFor(1).encode()); io.Copy(io.Discard, p.nc) })
	refuse := errors.New("not on the list")
	_, err := Dial(patientCtx(t), nil, "tcp", addr, Config{ValidatePeer: func(p Peer) error {
		if p.Identification != "raw" {
			t.Errorf("ValidatePeer saw %+v", p)
		}
		return refuse
	}})
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, refuse) {
		t.Fatalf("Dial = %v, want ErrHandshake wrapping the refusal", err)
	}
}

// serveRaw serves cfg on a real listener and returns a raw client peer
// that has done its half of the handshake, and the server's menu.
func serveRaw(t *testing.T, cfg Config) (*rawPeer, *hello) {
	t.Helper()
	return serveRawHello(t, cfg, helloFor(1))
}

// serveRaw2 is serveRaw with a client of protocol 2.
func serveRaw2(t *testing.T, cfg Config) (*rawPeer, *hello) {
	t.Helper()
	return serveRawHello(t, cfg, helloFor(1, 2))
}

func serveRawHello(t *testing.T, cfg Config, mine *hello) (*rawPeer, *hello) {
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
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t, nc)
	p.write(mine.encode())
	k, r := p.readFrame()
	if k != kindHello {
		t.Fatalf("server's first frame is %v", k)
	}
	b := append([]byte{byte(kindHello)}, r.rest()...)
	h, err := parseHello(b)
	if err != nil {
		t.Fatal(err)
	}
	return p, h
}

func echoServerConfig() Config {
	var hs Handlers
	NewMethod[[]byte, []byte]("echo", 1).Implement(&hs, func(_ context.Context, b []byte) ([]byte, error) { return b, nil })
	return Config{Handlers: &hs, MaxFrameSize: 1024}
}

// msgpackBytes encodes b as a msgpack bin16.
func msgpackBytes(b []byte) []byte {
	return append([]byte{0xc5, byte(len(b) >> 8), byte(len(b))}, b...)
}

// A frame over the receiver's maximum fails that call alone, with the
// sizes; the connection goes on.
func TestOversizedFrameFailsOnlyThatCall(t *testing.T) {
	p, h := serveRaw(t, echoServerConfig())
	if len(h.menu) != 1 || h.menu[0].Name != "echo" {
		t.Fatalf("menu %+v", h.menu)
	}
	p.write(rawFrame(kindCall, msgpackBytes(make([]byte, 2000)), 5, 0, 0))
	r := p.readUntil(kindError)
	id, code := r.uint(), r.uint()
	msg := r.str(1000)
	size, max := r.uint(), r.uint()
	if id != 5 || code != codeTooLarge || size < 2000 || max != 1024 || !strings.Contains(msg, "exceeds the maximum of 1024") {
		t.Fatalf("error frame: id %d code %d %q size %d max %d", id, code, msg, size, max)
	}
	p.write(rawFrame(kindCall, msgpackBytes([]byte("hi")), 6, 0, 0))
	r = p.readUntil(kindReply)
	var got []byte
	if id := r.uint(); id != 6 || decodePayload(r.rest(), &got) != nil || string(got) != "hi" {
		t.Fatalf("reply after the oversized frame: id %d, %q", id, got)
	}
}

// A payload that is not well-formed msgpack fails that call only.
func TestMalformedPayloadFailsOnlyThatCall(t *testing.T) {
	p, _ := serveRaw(t, echoServerConfig())
	for i, bad := range [][]byte{
		{0xc5, 0xff, 0xff},       // bin16 declaring 65535 bytes, holding none
		{0xdd, 0x0f, 0xff, 0xff}, // array32 header cut short
		{0xc1},                   // never used
		{0x92, 0x01},             // an array missing an element
		{0x01, 0x02},             // two values
	} {
		id := uint64(10 + i)
		p.write(rawFrame(kindCall, bad, id, 0, 0))
		r := p.readUntil(kindError)
		if got, code := r.uint(), r.uint(); got != id || code != codeBadRequest {
			t.Fatalf("payload % x: error frame id %d code %d, want %d, %d", bad, got, code, id, codeBadRequest)
		}
	}
	p.write(rawFrame(kindCall, msgpackBytes([]byte("ok")), 99, 0, 0))
	if r := p.readUntil(kindReply); r.uint() != 99 {
		t.Fatal("no reply after malformed payloads")
	}
}

// A frame that breaks the protocol closes that connection, with a reason,
// and no other.
func TestProtocolErrorClosesOnlyThatConnection(t *testing.T) {
	cfg := echoServerConfig()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.Close(ctx)
	}()
	good, err := Dial(patientCtx(t), nil, "tcp", l.Addr().String(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer good.shutdown(&ClosedError{Reason: "test"}, false)

	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t, nc)
	p.write(helloFor(1).encode())
	p.readUntil(kindHello)
	p.write(rawFrame(kind(99), nil))
	r := p.readUntil(kindClose)
	if reason := r.str(1000); !strings.Contains(reason, "protocol error: unexpected frame kind 99") {
		t.Fatalf("close reason %q", reason)
	}
	echo := NewMethod[[]byte, []byte]("echo", 1)
	if b, err := echo.Call(patientCtx(t), good, []byte("still here")); err != nil || string(b) != "still here" {
		t.Fatalf("the other connection: %q, %v", b, err)
	}
}
