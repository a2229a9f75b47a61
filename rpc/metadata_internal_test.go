package rpc

import (
	"context"
	"io"
	"testing"
)

// A peer of protocol 1 gets calls and one-way messages in version 1's
// frames: the headers are left out, and everything else works.
func TestHeadersToAVersion1Peer(t *testing.T) {
	got := make(chan kind, 2)
	addr := listenRaw(t, func(p *rawPeer) {
		p.write(helloFor(1).encodeWith(MethodInfo{Name: "echo", Version: 1, Kind: KindMethod}, MethodInfo{Name: "note", Version: 1, Kind: KindOneWay}))
		p.readUntil(kindHello)
		k, r := p.readFrame()
		got <- k
		id := r.uint()
		p.write(rawFrame(kindReply, []byte{0xa2, 'o', 'k'}, id))
		k, _ = p.readFrame()
		got <- k
		io.Copy(io.Discard, p.nc)
	})
	c, err := Dial(patientCtx(t), nil, "tcp", addr, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.shutdown(&ClosedError{Reason: "test"}, false)
	if c.Peer().Protocol != 1 {
		t.Fatalf("protocol %d, want 1", c.Peer().Protocol)
	}
	ctx := WithHeader(patientCtx(t), "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	r, err := NewMethod[string, string]("echo", 1).Call(ctx, c, "hi")
	if err != nil || r != "ok" {
		t.Fatalf("call = %q, %v", r, err)
	}
	if err := NewOneWay[string]("note", 1).Send(ctx, c, "hi"); err != nil {
		t.Fatal(err)
	}
	if k1, k2 := <-got, <-got; k1 != kindCall || k2 != kindOneWay {
		t.Fatalf("the version 1 peer got %v and %v frames, want call and one-way", k1, k2)
	}
}

// A peer of protocol 2 may send headers; the handler sees them.
func TestHeadersFromARawPeer(t *testing.T) {
	var hs Handlers
	NewMethod[string, string]("hdr", 1).Implement(&hs, func(ctx context.Context, key string) (string, error) {
		return HeaderFromContext(ctx)[key], nil
	})
	p, _ := serveRaw2(t, Config{Handlers: &hs})
	md, err := appendMetadata(nil, Metadata{"k": "v", "a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	p.write(rawFrame(kindCallMD, append(md, 0xa1, 'k'), 1, 0, 0))
	r := p.readUntil(kindReply)
	var v string
	if id := r.uint(); id != 1 || decodePayload(r.rest(), &v) != nil || v != "v" {
		t.Fatalf("reply %d %q", id, v)
	}
	// Malformed metadata breaks the protocol.
	p.write(rawFrame(kindCallMD, []byte{0x81, 0xa1, 'k'}, 2, 0, 0))
	if reason := p.readUntil(kindClose).str(1000); reason != "protocol error: malformed call frame" {
		t.Fatalf("close reason %q", reason)
	}
}
