package node_test

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"testing"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/node/aemp"
)

// probe dials n and runs the AnyEvent::MP handshake with cfg, as a peer
// of another make would.
func probe(t *testing.T, n *node.Node, cfg aemp.Config) (*aemp.Link, error) {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(patientCtx(t), "tcp", n.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "probe"
	}
	if cfg.Secret == "" {
		cfg.Secret = "geheim"
	}
	l, err := aemp.Handshake(patientCtx(t), c, cfg)
	if err == nil {
		t.Cleanup(func() { l.Conn.Close() })
	}
	return l, err
}

// A node configured with Perl's framings (cbor, json) picks CBOR with a
// peer that offers msgpack first, JSON with one that offers only JSON, and
// links to a default tether node; with a peer that offers only msgpack
// there is no common framing.
func TestConfigFramings(t *testing.T) {
	perlish := startTCP(t, "perlish", func(c *node.Config) { c.Framings = []string{"cbor", "json"} })

	l, err := probe(t, perlish, aemp.Config{Framings: aemp.DefaultFramings})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Peer.Framings; !slices.Equal(got, []string{"cbor", "json"}) {
		t.Errorf("greeting offers %v, want [cbor json]", got)
	}
	if l.SendFraming.Name() != "cbor" || l.RecvFraming.Name() != "cbor" {
		t.Errorf("framings: we send %s, it sends %s; want cbor both ways", l.SendFraming.Name(), l.RecvFraming.Name())
	}
	if l, err := probe(t, perlish, aemp.Config{NodeID: "probe2", Framings: []string{"json"}}); err != nil || l.RecvFraming.Name() != "json" {
		t.Errorf("a JSON-only peer: %v", err)
	}
	_, err = probe(t, perlish, aemp.Config{NodeID: "probe3", Framings: []string{"msgpack"}})
	if !errors.Is(err, aemp.ErrNoCommonFraming) {
		t.Errorf("a msgpack-only peer: err = %v, want ErrNoCommonFraming", err)
	}

	// Two tether nodes, one of them Perl-like, talk CBOR.
	other := startTCP(t, "other")
	if _, err := other.AddNode(patientCtx(t), perlish.Addrs()...); err != nil {
		t.Fatal(err)
	}
	port, got := inbox(perlish)
	other.Send(port, "over", "cbor", int64(42), 1.5)
	if m := recv(t, got); !slices.Equal(m, []any{"over", "cbor", int64(42), 1.5}) {
		t.Fatalf("got %#v", m)
	}
}

// AuthAccept is what the greeting announces; AuthOffer limits what the
// node sends.
func TestConfigAuthMethods(t *testing.T) {
	n := startTCP(t, "n", func(c *node.Config) {
		c.AuthOffer = []string{aemp.AuthCleartext}
		c.AuthAccept = []string{aemp.AuthHMAC}
	})
	l, err := probe(t, n, aemp.Config{AuthAccept: []string{aemp.AuthHMAC, aemp.AuthCleartext}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Peer.Auths, []string{aemp.AuthHMAC}) {
		t.Errorf("greeting accepts %v, want [hmac_sha3_512]", l.Peer.Auths)
	}
	if l.RecvAuth != aemp.AuthCleartext {
		t.Errorf("the node sent %s, want cleartext (the only one it offers)", l.RecvAuth)
	}

	// A peer that sends cleartext is refused: the node hangs up.
	l, err = probe(t, n, aemp.Config{NodeID: "probe2", AuthOffer: []string{aemp.AuthCleartext},
		AuthAccept: []string{aemp.AuthHMAC, aemp.AuthCleartext}})
	if err == nil {
		l.Conn.SetReadDeadline(clock.Real().Now().Add(patience))
		_, err = l.NewDecoder().Decode()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil // still linked
		}
	}
	if err == nil {
		t.Fatal("a peer that sent cleartext was accepted")
	}
}

// Start refuses framings and auth methods the handshake does not know.
func TestConfigRefusesUnknownMethods(t *testing.T) {
	for _, cfg := range []node.Config{
		{Framings: []string{"storable"}},
		{Framings: []string{}},
		{AuthOffer: []string{"hmac_md6_64_256"}},
		{AuthAccept: []string{"magic"}},
	} {
		n, err := node.Start(context.Background(), cfg)
		if err == nil {
			n.Close(context.Background())
			t.Errorf("Start(%+v) succeeded", cfg)
		} else if !errors.Is(err, aemp.ErrConfig) {
			t.Errorf("Start(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}
