package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/node/aemp"
)

// tapTransport is TCP that keeps a copy of every byte the dialing side
// writes, to check what goes over the wire.
type tapTransport struct {
	mu      sync.Mutex
	written bytes.Buffer
}

func (tp *tapTransport) Listen(network, address string) (net.Listener, error) {
	return net.Listen(network, address)
}

func (tp *tapTransport) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, tp: tp}, nil
}

func (tp *tapTransport) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.written.Bytes())
}

type tapConn struct {
	net.Conn
	tp *tapTransport
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.tp.mu.Lock()
	c.tp.written.Write(p)
	c.tp.mu.Unlock()
	return c.Conn.Write(p)
}

// tlsNode makes a node that authenticates by certificate only.
func tlsNode(cfg *tls.Config) func(*node.Config) {
	return func(c *node.Config) { c.Secret, c.TLS = "", cfg }
}

// TestLinkOverTLS: nodes that share a certificate and no secret link over
// TLS; what crosses the wire after the greeting is TLS records, and the
// message is not on it in the clear.
func TestLinkOverTLS(t *testing.T) {
	cert, pool, err := aemp.GenerateCert("tether")
	if err != nil {
		t.Fatal(err)
	}
	cfg := aemp.NewTLSConfig([]tls.Certificate{cert}, pool)
	tap := &tapTransport{}
	a := startTCP(t, "a", tlsNode(cfg), func(c *node.Config) { c.Transport = tap })
	b := startTCP(t, "b", tlsNode(cfg))
	if _, err := a.AddNode(patientCtx(t), b.Addrs()...); err != nil {
		t.Fatalf("AddNode over TLS: %v", err)
	}
	port, got := inbox(b)
	const secret = "the eagle lands at dawn"
	a.Send(port, "note", secret)
	if m := recv(t, got); m[0] != "note" || m[1] != secret {
		t.Fatalf("got %v", m)
	}
	// And back, over the same link.
	back, gotBack := inbox(a)
	b.Send(back, "ack")
	if m := recv(t, gotBack); m[0] != "ack" {
		t.Fatalf("got %v", m)
	}

	wire := tap.bytes()
	if bytes.Contains(wire, []byte(secret)) {
		t.Fatal("the message crossed the wire in the clear")
	}
	// The greeting is two lines (the banner and the nonce); a TLS
	// handshake record (0x16, version 3.x) follows.
	lines := bytes.SplitN(wire, []byte("\n"), 3)
	if len(lines) < 3 || len(lines[2]) < 2 || lines[2][0] != 0x16 || lines[2][1] != 3 {
		t.Fatalf("no TLS record after the greeting: %q", wire[:min(len(wire), 200)])
	}
}

// TestLinkTLSForeignCertificate: a node whose certificate does not chain to
// the network's root cannot join it.
func TestLinkTLSForeignCertificate(t *testing.T) {
	cert, pool, err := aemp.GenerateCert("tether")
	if err != nil {
		t.Fatal(err)
	}
	intruder, _, err := aemp.GenerateCert("intruder")
	if err != nil {
		t.Fatal(err)
	}
	a := startTCP(t, "a", tlsNode(aemp.NewTLSConfig([]tls.Certificate{intruder}, pool)))
	b := startTCP(t, "b", tlsNode(aemp.NewTLSConfig([]tls.Certificate{cert}, pool)))
	if id, err := a.AddNode(patientCtx(t), b.Addrs()...); err == nil {
		t.Fatalf("AddNode with a foreign certificate linked to %q", id)
	}
	if got := b.Nodes(); len(got) != 0 {
		t.Fatalf("b.Nodes() = %v", got)
	}
}
