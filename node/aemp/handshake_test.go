package aemp_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/node/aemp"
)

// side is one end of a simulated handshake between two Handshakers.
type side struct {
	h        *aemp.Handshaker
	inbox    []string // lines from the other side, not yet stepped
	tlsWait  bool     // StartTLS was asked; waiting for the other side
	client   bool
	greeting *aemp.Greeting
	done     bool
	err      error
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// pump runs two Handshakers against each other, as two drivers over a
// perfect connection would, with TLS pretended: once both ask for it, both
// get TLSUp.
func pump(t *testing.T, a, b *aemp.Handshaker) (*side, *side) {
	t.Helper()
	sa, sb := &side{h: a}, &side{h: b}
	sb.inbox = lines(a.Start())
	sa.inbox = lines(b.Start())
	for range 100 {
		progressed := false
		for _, p := range [][2]*side{{sa, sb}, {sb, sa}} {
			me, other := p[0], p[1]
			if me.err != nil || me.done {
				continue
			}
			var out aemp.Output
			var err error
			switch {
			case me.tlsWait && other.tlsWait:
				if me.client == other.client {
					t.Fatalf("both sides want TLS role client=%v", me.client)
				}
				me.tlsWait, other.tlsWait = false, false
				out, err = me.h.TLSUp()
				if err == nil {
					o2, err2 := other.h.TLSUp()
					other.apply(o2, err2, me)
				}
			case me.tlsWait || len(me.inbox) == 0:
				continue
			default:
				line := me.inbox[0]
				me.inbox = me.inbox[1:]
				out, err = me.h.Step(line)
			}
			me.apply(out, err, other)
			progressed = true
		}
		if !progressed {
			return sa, sb
		}
	}
	t.Fatal("handshake did not settle")
	return nil, nil
}

func (s *side) apply(out aemp.Output, err error, other *side) {
	if err != nil {
		s.err = err
		return
	}
	other.inbox = append(other.inbox, lines(out.Send)...)
	if out.Greeting != nil {
		s.greeting = out.Greeting
	}
	if out.StartTLS {
		s.tlsWait, s.client = true, out.TLSClient
	}
	if out.Verified && !out.Done { // it withheld its auth line (TieBreak)
		o, err := s.h.Confirm()
		s.apply(o, err, other)
		return
	}
	s.done = s.done || out.Done
}

func newHS(t *testing.T, cfg aemp.HandshakeConfig) *aemp.Handshaker {
	t.Helper()
	if cfg.Nonce == "" {
		cfg.Nonce = strings.Repeat(cfg.NodeID, 3) + "-nonce"
	}
	h, err := aemp.NewHandshaker(cfg)
	if err != nil {
		t.Fatalf("NewHandshaker(%+v): %v", cfg, err)
	}
	return h
}

func TestHandshakeGoToGo(t *testing.T) {
	hb := &aemp.Heartbeat{Interval: time.Second, Timeout: 10 * time.Second}
	a := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", Heartbeat: hb, Params: []aemp.Param{{Key: "provider", Value: "tether"}}})
	b := newHS(t, aemp.HandshakeConfig{NodeID: "b", Secret: "s", Heartbeat: &aemp.Heartbeat{Interval: 2 * time.Second, Timeout: 5 * time.Second}})
	sa, sb := pump(t, a, b)
	if sa.err != nil || sb.err != nil || !sa.done || !sb.done {
		t.Fatalf("a: %v, b: %v", sa.err, sb.err)
	}
	ra, rb := a.Result(), b.Result()
	if ra.PeerID != "b" || rb.PeerID != "a" || sa.greeting.NodeID != "b" {
		t.Errorf("peer IDs %q %q", ra.PeerID, rb.PeerID)
	}
	for _, r := range []*aemp.Result{ra, rb} {
		if r.SendFraming != aemp.Msgpack || r.RecvFraming != aemp.Msgpack || r.SendAuth != aemp.AuthHMAC || r.RecvAuth != aemp.AuthHMAC || !r.Trusted || r.TLS {
			t.Errorf("result %+v", r)
		}
		if r.Heartbeat == nil || *r.Heartbeat != (aemp.Heartbeat{Interval: time.Second, Timeout: 10 * time.Second}) {
			t.Errorf("heartbeat %+v", r.Heartbeat)
		}
	}
	if v, _ := rb.Peer.Param("provider"); v != "tether" {
		t.Errorf("provider %q", v)
	}
	if v, _ := rb.Peer.Param("hb"); v != "1000,10000" {
		t.Errorf("hb %q", v)
	}
	// After Done, every call fails.
	if _, err := a.Step("more"); !errors.Is(err, aemp.ErrHandshakeState) {
		t.Errorf("Step after Done: %v", err)
	}
}

func TestHandshakeHeartbeatOneSided(t *testing.T) {
	a := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", Heartbeat: &aemp.Heartbeat{Interval: time.Second, Timeout: 3 * time.Second}})
	b := newHS(t, aemp.HandshakeConfig{NodeID: "b", Secret: "s"})
	if sa, sb := pump(t, a, b); sa.err != nil || sb.err != nil {
		t.Fatal(sa.err, sb.err)
	}
	if a.Result().Heartbeat != nil || b.Result().Heartbeat != nil {
		t.Error("heartbeats with a peer that did not announce them")
	}
}

func TestHandshakeTLS(t *testing.T) {
	// Nonces chosen so that a's sorts lower: a is the TLS client.
	a := newHS(t, aemp.HandshakeConfig{NodeID: "a", TLS: true, Nonce: "AAAA"})
	b := newHS(t, aemp.HandshakeConfig{NodeID: "b", TLS: true, Secret: "s", Nonce: "BBBB"})
	sa, sb := pump(t, a, b)
	if sa.err != nil || sb.err != nil {
		t.Fatal(sa.err, sb.err)
	}
	ra, rb := a.Result(), b.Result()
	if !ra.TLS || !ra.TLSClient || !rb.TLS || rb.TLSClient {
		t.Errorf("roles: a %+v b %+v", ra, rb)
	}
	if ra.SendAuth != aemp.AuthTLSSHA3 || rb.SendAuth != aemp.AuthTLSSHA3 || !ra.Trusted || !rb.Trusted {
		t.Errorf("auth: a %+v b %+v", ra, rb)
	}
}

func TestHandshakeTLSAnon(t *testing.T) {
	a := newHS(t, aemp.HandshakeConfig{NodeID: "a", TLS: true, AuthOffer: []string{aemp.AuthTLSAnon}})
	b := newHS(t, aemp.HandshakeConfig{NodeID: "b", TLS: true, AuthAccept: []string{aemp.AuthTLSAnon, aemp.AuthTLSSHA3}})
	if sa, sb := pump(t, a, b); sa.err != nil || sb.err != nil {
		t.Fatal(sa.err, sb.err)
	}
	if rb := b.Result(); rb.Trusted || rb.RecvAuth != aemp.AuthTLSAnon {
		t.Errorf("b: %+v", rb)
	}
	// b, without a secret, offers tls_sha3_512 only.
	if ra := a.Result(); !ra.Trusted || ra.RecvAuth != aemp.AuthTLSSHA3 {
		t.Errorf("a: %+v", ra)
	}
}

func TestHandshakeTLSOneSided(t *testing.T) {
	a := newHS(t, aemp.HandshakeConfig{NodeID: "a", TLS: true, Secret: "s"})
	b := newHS(t, aemp.HandshakeConfig{NodeID: "b", Secret: "s"})
	if sa, sb := pump(t, a, b); sa.err != nil || sb.err != nil {
		t.Fatal(sa.err, sb.err)
	}
	if a.Result().TLS || a.Result().SendAuth != aemp.AuthHMAC {
		t.Errorf("%+v", a.Result())
	}
}

func TestHandshakeCleartext(t *testing.T) {
	a := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", AuthOffer: []string{aemp.AuthCleartext}, Framings: []string{"json"}})
	b := newHS(t, aemp.HandshakeConfig{NodeID: "b", Secret: "s"})
	if sa, sb := pump(t, a, b); sa.err != nil || sb.err != nil {
		t.Fatal(sa.err, sb.err)
	}
	if b.Result().RecvAuth != aemp.AuthCleartext || b.Result().SendFraming != aemp.JSON || b.Result().RecvFraming != aemp.JSON {
		t.Errorf("%+v", b.Result())
	}
}

func TestHandshakeFailures(t *testing.T) {
	cases := []struct {
		name   string
		a, b   aemp.HandshakeConfig
		errA   error // nil: a succeeds or just waits
		errB   error
		detail string
	}{
		{"wrong secret", aemp.HandshakeConfig{NodeID: "a", Secret: "x"}, aemp.HandshakeConfig{NodeID: "b", Secret: "y"}, aemp.ErrAuthFailure, aemp.ErrAuthFailure, "does not verify"},
		{"self", aemp.HandshakeConfig{NodeID: "n", Secret: "s", Nonce: "1"}, aemp.HandshakeConfig{NodeID: "n", Secret: "s", Nonce: "2", Params: []aemp.Param{{Key: "x", Value: "y"}}}, aemp.ErrSelfConnect, aemp.ErrSelfConnect, ""},
		{"self, same greeting", aemp.HandshakeConfig{NodeID: "n", Secret: "s", Nonce: "1"}, aemp.HandshakeConfig{NodeID: "n", Secret: "s", Nonce: "2"}, aemp.ErrSelfConnect, aemp.ErrSelfConnect, ""},
		{"echo", aemp.HandshakeConfig{NodeID: "n", Secret: "s", Nonce: "1"}, aemp.HandshakeConfig{NodeID: "n", Secret: "s", Nonce: "1"}, aemp.ErrEchoAttack, aemp.ErrEchoAttack, "greeting and nonce"},
		{"same nonce", aemp.HandshakeConfig{NodeID: "a", Secret: "s", Nonce: "1"}, aemp.HandshakeConfig{NodeID: "b", Secret: "s", Nonce: "1"}, aemp.ErrEchoAttack, aemp.ErrEchoAttack, "our nonce"},
		{"no secret no TLS", aemp.HandshakeConfig{NodeID: "a"}, aemp.HandshakeConfig{NodeID: "b", Secret: "s"}, aemp.ErrNoSecret, nil, ""},
		{"no common auth", aemp.HandshakeConfig{NodeID: "a", Secret: "s", AuthAccept: []string{aemp.AuthCleartext}}, aemp.HandshakeConfig{NodeID: "b", Secret: "s"}, nil, aemp.ErrNoCommonAuth, "they accept cleartext"},
		{"no common framing", aemp.HandshakeConfig{NodeID: "a", Secret: "s", Framings: []string{"msgpack"}}, aemp.HandshakeConfig{NodeID: "b", Secret: "s", Framings: []string{"cbor", "json"}}, aemp.ErrNoCommonFraming, aemp.ErrNoCommonFraming, "they accept"},
		{"protocol", aemp.HandshakeConfig{NodeID: "a", Secret: "s", Protocol: "aemp-dataconn"}, aemp.HandshakeConfig{NodeID: "b", Secret: "s"}, aemp.ErrProtocolMismatch, aemp.ErrProtocolMismatch, "aemp-dataconn"},
		{"secret needed under TLS", aemp.HandshakeConfig{NodeID: "a", TLS: true, AuthOffer: []string{aemp.AuthHMAC}}, aemp.HandshakeConfig{NodeID: "b", TLS: true, Secret: "s"}, aemp.ErrNoSecret, nil, "needs a secret"},
		{"only cleartext offered", aemp.HandshakeConfig{NodeID: "a", Secret: "s", AuthAccept: []string{aemp.AuthHMAC}}, aemp.HandshakeConfig{NodeID: "b", Secret: "s", AuthOffer: []string{aemp.AuthCleartext}}, nil, aemp.ErrNoCommonAuth, "we send cleartext, no TLS"},
	}
	for _, c := range cases {
		sa, sb := pump(t, newHS(t, c.a), newHS(t, c.b))
		for _, x := range []struct {
			s    *side
			want error
			name string
		}{{sa, c.errA, "a"}, {sb, c.errB, "b"}} {
			if x.want == nil {
				continue
			}
			var he *aemp.HandshakeError
			if !errors.Is(x.s.err, x.want) || !errors.As(x.s.err, &he) {
				t.Errorf("%s: %s: %v, want %v", c.name, x.name, x.s.err, x.want)
			} else if !strings.Contains(x.s.err.Error(), c.detail) {
				t.Errorf("%s: %s: %q does not say %q", c.name, x.name, x.s.err, c.detail)
			}
			if x.s.done {
				t.Errorf("%s: %s done despite %v", c.name, x.name, x.s.err)
			}
		}
	}
}

// TestHandshakeBadPeerLines feeds one Handshaker hand-made peer lines.
func TestHandshakeBadPeerLines(t *testing.T) {
	peer := "aemp;1;b;hmac_sha3_512,cleartext,tls_anon;json"
	cases := []struct {
		name  string
		lines []string
		want  error
	}{
		{"garbage", []string{"GET / HTTP/1.1"}, aemp.ErrMalformedGreeting},
		{"version", []string{"aemp;0;b;x;y"}, aemp.ErrVersionMismatch},
		{"bad hb", []string{peer + ";hb=5,1"}, aemp.ErrMalformedGreeting},
		{"long line", []string{strings.Repeat("x", aemp.MaxLineLength+1)}, aemp.ErrLineTooLong},
		{"long nonce", []string{peer, strings.Repeat("x", aemp.MaxLineLength+1)}, aemp.ErrLineTooLong},
		{"auth fields", []string{peer, "N", "hmac_sha3_512;abc"}, aemp.ErrMalformedAuth},
		{"auth bad token", []string{peer, "N", "hmac_sha3_512;abc;json"}, aemp.ErrAuthFailure},
		{"auth tls without tls", []string{peer, "N", "tls_anon;;json"}, aemp.ErrAuthFailure},
		{"auth unknown method", []string{peer, "N", "hmac_md6_64_256;x;json"}, aemp.ErrAuthFailure},
		{"auth wrong cleartext", []string{peer, "N", "cleartext;00;json"}, aemp.ErrAuthFailure},
		{"auth storable", []string{peer, "N", "cleartext;73;storable"}, aemp.ErrNoCommonFraming},
		{"auth unoffered framing", []string{peer, "N", "cleartext;73;cbor"}, aemp.ErrNoCommonFraming},
	}
	for _, c := range cases {
		h := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", Framings: []string{"json"}})
		var err error
		for _, l := range c.lines {
			if _, err = h.Step(l); err != nil {
				break
			}
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if _, again := h.Step("x"); again != err || h.Err() != err {
			t.Errorf("%s: the error is not sticky: %v", c.name, again)
		}
	}
	// A right cleartext line with an offered framing succeeds, and extra
	// fields in the auth line are ignored as Perl's split does.
	h := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", Framings: []string{"json"}})
	for _, l := range []string{peer, "N"} {
		if _, err := h.Step(l); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := h.Step("cleartext;73;json;future"); err != nil || !out.Done {
		t.Fatalf("%+v %v", out, err)
	}
}

func TestHandshakerMisuse(t *testing.T) {
	h := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s"})
	if _, err := h.TLSUp(); !errors.Is(err, aemp.ErrHandshakeState) {
		t.Errorf("TLSUp first: %v", err)
	}
	h = newHS(t, aemp.HandshakeConfig{NodeID: "a", TLS: true})
	for _, l := range []string{"aemp;1;b;tls_sha3_512;msgpack;tls=1.0", "N"} {
		if _, err := h.Step(l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Step("a line instead of TLS"); !errors.Is(err, aemp.ErrHandshakeState) {
		t.Errorf("Step while TLS is due: %v", err)
	}
}

func TestHandshakeConfigErrors(t *testing.T) {
	bad := []aemp.HandshakeConfig{
		{NodeID: "", Nonce: "n"},
		{NodeID: "a;b", Nonce: "n"},
		{NodeID: "a#b", Nonce: "n"},
		{NodeID: "a,b", Nonce: "n"},
		{NodeID: "a"},
		{NodeID: "a", Nonce: "n\n"},
		{NodeID: "a", Nonce: "n", Protocol: "http"},
		{NodeID: "a", Nonce: "n", Framings: []string{"storable"}},
		{NodeID: "a", Nonce: "n", Framings: []string{}},
		{NodeID: "a", Nonce: "n", AuthOffer: []string{"hmac_md6_64_256"}},
		{NodeID: "a", Nonce: "n", AuthAccept: []string{"plain"}},
		{NodeID: "a", Nonce: "n", Params: []aemp.Param{{Key: "tls", Value: "1.0"}}},
		{NodeID: "a", Nonce: "n", Params: []aemp.Param{{Key: "a=b", Value: "c"}}},
		{NodeID: "a", Nonce: "n", Params: []aemp.Param{{Key: "k", Value: "v;w"}}},
		{NodeID: "a", Nonce: "n", Params: []aemp.Param{{Key: "k", Value: strings.Repeat("v", 5000)}}},
		{NodeID: "a", Nonce: "n", Heartbeat: &aemp.Heartbeat{Interval: time.Second, Timeout: time.Second}},
		{NodeID: "a", Nonce: "n", Heartbeat: &aemp.Heartbeat{Interval: time.Microsecond, Timeout: time.Second}},
	}
	for _, cfg := range bad {
		if _, err := aemp.NewHandshaker(cfg); !errors.Is(err, aemp.ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
	// Without a secret the default offer is TLS-only.
	h := newHS(t, aemp.HandshakeConfig{NodeID: "a", TLS: true})
	if !strings.Contains(string(h.Start()), "aemp;1;a;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;msgpack,cbor,json;tls=1.0\n") {
		t.Errorf("greeting %q", h.Start())
	}
}

// TieBreak: the side with the smaller node ID sends its auth line only
// after the peer's has verified; the larger side sends at once.
func TestHandshakeTieBreak(t *testing.T) {
	for _, secret := range []string{"s", "wrong"} {
		a := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", TieBreak: true})
		b := newHS(t, aemp.HandshakeConfig{NodeID: "b", Secret: secret, TieBreak: true})
		ta, tb := lines(a.Start()), lines(b.Start())
		step := func(h *aemp.Handshaker, line string) aemp.Output {
			t.Helper()
			out, err := h.Step(line)
			if err != nil {
				t.Fatalf("Step(%.30q): %v", line, err)
			}
			return out
		}
		step(a, tb[0])
		if out := step(a, tb[1]); out.Send != nil {
			t.Fatalf("the smaller side sent %q before the peer's auth line", out.Send)
		}
		step(b, ta[0])
		bAuth := step(b, ta[1])
		if bAuth.Send == nil {
			t.Fatal("the larger side withheld its auth line")
		}
		out, err := a.Step(lines(bAuth.Send)[0])
		if secret != "s" {
			if !errors.Is(err, aemp.ErrAuthFailure) {
				t.Fatalf("a wrong secret: %v, want ErrAuthFailure (and no auth line of ours sent)", err)
			}
			continue
		}
		if err != nil || !out.Verified || out.Done || out.Send != nil || a.Result() == nil || a.Result().PeerID != "b" {
			t.Fatalf("the peer's auth line: %+v, %v; want Verified with nothing sent yet", out, err)
		}
		if _, err := a.Step("more"); !errors.Is(err, aemp.ErrHandshakeState) {
			t.Fatalf("Step before Confirm: %v", err)
		}
		a = newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", TieBreak: true})
		b = newHS(t, aemp.HandshakeConfig{NodeID: "b", Secret: "s", TieBreak: true})
		sa, sb := pump(t, a, b)
		if sa.err != nil || sb.err != nil || !sa.done || !sb.done {
			t.Fatalf("pumped: a: %v, b: %v", sa.err, sb.err)
		}
	}
	// Confirm out of turn.
	h := newHS(t, aemp.HandshakeConfig{NodeID: "a", Secret: "s", TieBreak: true})
	if _, err := h.Confirm(); !errors.Is(err, aemp.ErrHandshakeState) {
		t.Fatalf("Confirm at the start: %v", err)
	}
}
