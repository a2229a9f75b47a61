package aemp_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/node/aemp"
)

func TestParseGreeting(t *testing.T) {
	line := "aemp;1;nodeA;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;provider=AE-2.01;mproto=1;gproto=1;peeraddr=127.0.0.1:53190"
	for _, in := range []string{line, line + "\n", line + "\r\n"} {
		g, err := aemp.ParseGreeting(in)
		if err != nil {
			t.Fatal(err)
		}
		want := &aemp.Greeting{
			Protocol: "aemp", Version: "1", NodeID: "nodeA",
			Auths:    []string{"tls_sha3_512", "hmac_sha3_512", "tls_anon", "cleartext"},
			Framings: []string{"cbor", "json", "storable"},
			Params:   []aemp.Param{{"provider", "AE-2.01"}, {"mproto", "1"}, {"gproto", "1"}, {"peeraddr", "127.0.0.1:53190"}},
		}
		if !reflect.DeepEqual(g, want) {
			t.Fatalf("got %+v\nwant %+v", g, want)
		}
		if g.String() != line {
			t.Fatalf("String() = %q", g.String())
		}
	}
	g, err := aemp.ParseGreeting("aemp-dataconn;1;n/x;;json;dataconn_id=7;flag;;=nokey;tls=1.0;k=a=b")
	if err != nil {
		t.Fatal(err)
	}
	if g.Protocol != "aemp-dataconn" || g.Auths != nil || !g.WantsTLS() {
		t.Errorf("%+v", g)
	}
	if v, ok := g.Param("flag"); !ok || v != "" {
		t.Errorf("flag = %q, %v", v, ok)
	}
	if v, _ := g.Param("k"); v != "a=b" {
		t.Errorf("k = %q", v)
	}
	if _, ok := g.Param(""); ok {
		t.Error("a parameter with an empty key")
	}
}

func TestParseGreetingErrors(t *testing.T) {
	cases := map[string]error{
		"aemp;2;nodeA;hmac_sha3_512;json":           aemp.ErrVersionMismatch,
		"aemp;1.0;nodeA;hmac_sha3_512;json":         aemp.ErrVersionMismatch,
		"aemp;1;nodeA;hmac_sha3_512":                aemp.ErrMalformedGreeting,
		"http/1.1 200 OK":                           aemp.ErrMalformedGreeting,
		"aemq;1;nodeA;a;b":                          aemp.ErrMalformedGreeting,
		"aemp;1;;a;b":                               aemp.ErrMalformedGreeting,
		"aemp;1;node#port;a;b":                      aemp.ErrMalformedGreeting,
		"aemp;1;n\x00;a;b":                          aemp.ErrMalformedGreeting,
		"aemp;1;a;b;c;" + strings.Repeat("x", 4096): aemp.ErrLineTooLong,
		"": aemp.ErrMalformedGreeting,
	}
	for in, want := range cases {
		_, err := aemp.ParseGreeting(in)
		var he *aemp.HandshakeError
		if !errors.Is(err, want) || !errors.As(err, &he) {
			t.Errorf("%.60q: %v, want %v", in, err, want)
		}
	}
	_, err := aemp.ParseGreeting("aemp;2;nodeA;hmac_sha3_512;json")
	if !strings.Contains(err.Error(), "nodeA") || !strings.Contains(err.Error(), "we: 1, they: 2") {
		t.Errorf("version mismatch message: %v", err)
	}
}

func TestWantsTLS(t *testing.T) {
	for v, want := range map[string]bool{"tls=1.0": true, "tls=1": true, "tls=1.5": true, "tls=2.0": false, "tls=0": false, "tls=": false, "x=1": false} {
		g, err := aemp.ParseGreeting("aemp;1;n;a;b;" + v)
		if err != nil || g.WantsTLS() != want {
			t.Errorf("%s: %v, %v", v, g.WantsTLS(), err)
		}
	}
}

func TestHeartbeatParam(t *testing.T) {
	h, err := aemp.ParseHeartbeat("1000,5000")
	if err != nil || h != (aemp.Heartbeat{Interval: time.Second, Timeout: 5 * time.Second}) || h.String() != "1000,5000" {
		t.Fatalf("%+v %v %q", h, err, h.String())
	}
	for _, bad := range []string{"", "1000", "0,5", "5,5", "6,5", "a,b", "1,2,3", "-1,5", "1000,99999999999"} {
		if _, err := aemp.ParseHeartbeat(bad); !errors.Is(err, aemp.ErrMalformedGreeting) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNewNonce(t *testing.T) {
	n, err := aemp.NewNonce(&counting{})
	if err != nil || len(n) != 88 || n != probeNonce() {
		t.Fatalf("%q %v", n, err)
	}
	if _, err := aemp.NewNonce(strings.NewReader("short")); err == nil {
		t.Fatal("a short random source gave a nonce")
	}
}
