package aemp_test

import (
	"strings"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// Known answers computed independently with Python's hmac and hashlib.
var kaLines = aemp.Lines{
	LocalGreeting: "aemp;1;a;tls_sha3_512;json;tls=1.0", LocalNonce: "NONCEA",
	PeerGreeting: "aemp;1;b;tls_sha3_512;json;tls=1.0", PeerNonce: "NONCEB",
}

func TestAuthKnownAnswers(t *testing.T) {
	cases := []struct{ method, secret, want string }{
		{aemp.AuthHMAC, "geheim", "f2442321f9575333e42e31e5ae4950dfe062fb60549a58f73604d436d1856194194a2314224654e6ac89657a7323774cc8e15869384e74bb87766220db5b4e0e"},
		{aemp.AuthHMAC, strings.Repeat("k", 100), "2355f3383adad5958e02d6b43ba4d9dd53c4b2ca7819a352f16f0ff9a8b1ae8859277e9f5141a6822190f56a70aaedd908404b9256898fbf63a05b2d32ac101c"},
		{aemp.AuthTLSSHA3, "ignored", "facea4389a864ba61fbfe4b48b7e1c1892adaba1f7b97ad0b5f7d502dd006600332cdbe07bd8671108dfcf893876f1de2b48467adb5cc283f261495e4e4113ee"},
		{aemp.AuthCleartext, "geheim", "67656865696d"},
		{aemp.AuthTLSAnon, "geheim", ""},
	}
	for _, c := range cases {
		got, ok := aemp.AuthToken(c.method, c.secret, kaLines)
		if !ok || got != c.want {
			t.Errorf("%s: %s, want %s", c.method, got, c.want)
		}
	}
	if _, ok := aemp.AuthToken("hmac_md6_64_256", "s", kaLines); ok {
		t.Error("an unknown method has a token")
	}
}

func TestVerifyAuthToken(t *testing.T) {
	// The peer's tls_sha3_512 token is SHA3 over its own lines first.
	peerTLS := "8173b7125010fd6d8ec31961ca58daa52ae62674680ec2b0741ce3ed1079a400c34e8d077180bcf48fb8a90ccce4949b45088cfb6b0ccb009f02ed24d90cbac2"
	if !aemp.VerifyAuthToken(aemp.AuthTLSSHA3, peerTLS, "", kaLines) {
		t.Error("the peer's tls_sha3_512 token does not verify")
	}
	mine, _ := aemp.AuthToken(aemp.AuthTLSSHA3, "", kaLines)
	if aemp.VerifyAuthToken(aemp.AuthTLSSHA3, mine, "", kaLines) {
		t.Error("our own token verifies as the peer's (the order must be swapped)")
	}
	for _, m := range []string{aemp.AuthHMAC, aemp.AuthCleartext, aemp.AuthTLSAnon} {
		peerView := aemp.Lines{LocalGreeting: kaLines.PeerGreeting, LocalNonce: kaLines.PeerNonce, PeerGreeting: kaLines.LocalGreeting, PeerNonce: kaLines.LocalNonce}
		tok, _ := aemp.AuthToken(m, "geheim", peerView)
		if !aemp.VerifyAuthToken(m, tok, "geheim", kaLines) {
			t.Errorf("%s: the peer's token does not verify", m)
		}
		if m != aemp.AuthTLSAnon && aemp.VerifyAuthToken(m, tok, "falsch", kaLines) {
			t.Errorf("%s: verifies with the wrong secret", m)
		}
		if aemp.VerifyAuthToken(m, tok+"0", "geheim", kaLines) {
			t.Errorf("%s: a longer token verifies", m)
		}
	}
	if aemp.VerifyAuthToken("unknown", "", "geheim", kaLines) {
		t.Error("an unknown method verifies")
	}
}

func TestSelect(t *testing.T) {
	perlAccept := []string{aemp.AuthTLSSHA3, aemp.AuthHMAC, aemp.AuthTLSAnon, aemp.AuthCleartext}
	cases := []struct {
		peer, offer []string
		tls         bool
		want        string
	}{
		{perlAccept, aemp.DefaultAuthOffer, false, aemp.AuthHMAC},
		{perlAccept, aemp.DefaultAuthOffer, true, aemp.AuthTLSSHA3},
		{[]string{aemp.AuthCleartext}, aemp.DefaultAuthOffer, false, ""},
		{[]string{aemp.AuthTLSAnon, aemp.AuthHMAC}, []string{aemp.AuthHMAC, aemp.AuthTLSAnon}, true, aemp.AuthTLSAnon},
		{[]string{aemp.AuthTLSAnon, aemp.AuthHMAC}, []string{aemp.AuthHMAC, aemp.AuthTLSAnon}, false, aemp.AuthHMAC},
		{nil, aemp.DefaultAuthOffer, true, ""},
	}
	for _, c := range cases {
		got, ok := aemp.SelectAuth(c.peer, c.offer, c.tls)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("SelectAuth(%v, %v, %v) = %q, %v; want %q", c.peer, c.offer, c.tls, got, ok, c.want)
		}
	}
	if f, ok := aemp.SelectFraming([]string{"cbor", "json", "storable"}, aemp.DefaultFramings); !ok || f != "cbor" {
		t.Errorf("framing for Perl: %q", f)
	}
	if f, ok := aemp.SelectFraming(aemp.DefaultFramings, []string{"json", "msgpack"}); !ok || f != "msgpack" {
		t.Errorf("framing for Go: %q", f)
	}
	if _, ok := aemp.SelectFraming([]string{"storable"}, aemp.DefaultFramings); ok {
		t.Error("storable selected")
	}
}
