package aemp_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tetherkit/tether/node/aemp"
)

// The golden fixtures: exchanges recorded between live AnyEvent::MP 2.02
// nodes and a Go probe (see their README), copied from the project's
// shared fixtures (shared/aemp/transcripts).
const transcriptDir = "testdata/transcripts"

type record struct {
	Kind    string `json:"kind"`
	Dir     string `json:"dir"`
	Conn    int    `json:"conn"`
	Text    string `json:"text"`
	Hex     string `json:"hex"`
	Diag    string `json:"diag"`
	Framing string `json:"framing"`

	// meta
	Scenario         string `json:"scenario"`
	Addr             string `json:"addr"`
	ProbeNode        string `json:"probe_node"`
	ProbeSecret      string `json:"probe_secret"`
	PeerSecret       string `json:"peer_secret"`
	ProbeAuthMethod  string `json:"probe_auth"` // in meta: the method the probe sends
	ProbeFramings    string `json:"probe_framings"`
	ProbeSendFraming string `json:"probe_send_framing"`

	// auth
	ProbeGreeting    string `json:"probe_greeting"`
	ProbeNonce       string `json:"probe_nonce"`
	PeerGreeting     string `json:"peer_greeting"`
	PeerNonce        string `json:"peer_nonce"`
	ProbeMethod      string `json:"probe_method"`
	PeerMethod       string `json:"peer_method"`
	PeerAuth         string `json:"peer_auth"`
	PeerAuthExpected string `json:"peer_auth_expected"`
	PeerAuthOK       *bool  `json:"peer_auth_ok"`
	PeerSendFraming  string `json:"peer_send_framing"`
}

// The probe's token in an auth record is also called probe_auth; it is
// read separately because meta uses the same key for the method.
type authToken struct {
	ProbeAuth string `json:"probe_auth"`
}

type transcript struct {
	name    string
	meta    record
	records []record
	raw     []string
}

func loadTranscripts(t *testing.T) []transcript {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(transcriptDir, "*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no *.jsonl in %s", transcriptDir)
	}
	var out []transcript
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tr := transcript{name: strings.TrimSuffix(filepath.Base(f), ".jsonl")}
		for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s line %d: %v", f, i+1, err)
			}
			if i == 0 {
				if r.Kind != "meta" {
					t.Fatalf("%s: first record is %q, not meta", f, r.Kind)
				}
				tr.meta = r
			}
			tr.records = append(tr.records, r)
			tr.raw = append(tr.raw, line)
		}
		if last := tr.records[len(tr.records)-1]; last.Kind != "end" {
			t.Fatalf("%s: last record is %q, not end", f, last.Kind)
		}
		out = append(out, tr)
	}
	if len(out) < 18 {
		t.Fatalf("found %d transcripts, want 18", len(out))
	}
	return out
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// probeNonce is the probe's fixed nonce line: base64 of bytes 0x00..0x41.
func probeNonce() string {
	b := make([]byte, aemp.NonceBytes)
	for i := range b {
		b[i] = byte(i)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// counting is a reader of 0x00, 0x01, …: NewNonce over it gives probeNonce.
type counting struct{ n byte }

func (c *counting) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

// probeConfig rebuilds the probe's side of one connection from the README's
// fixed values and the scenario.
func probeConfig(tr transcript, peeraddr string) aemp.HandshakeConfig {
	accept := []string{aemp.AuthHMAC, aemp.AuthCleartext}
	if tr.name == "05_handshake_no_common_auth" {
		accept = []string{aemp.AuthCleartext}
	}
	return aemp.HandshakeConfig{
		NodeID:     tr.meta.ProbeNode,
		Secret:     tr.meta.ProbeSecret,
		AuthOffer:  []string{tr.meta.ProbeAuthMethod},
		AuthAccept: accept,
		Framings:   strings.Split(tr.meta.ProbeFramings, ","),
		Params: []aemp.Param{
			{Key: aemp.ParamProvider, Value: "GoProbe-1"},
			{Key: aemp.ParamMProto, Value: "1"},
			{Key: aemp.ParamGProto, Value: "1"},
			{Key: aemp.ParamPeerAddr, Value: peeraddr},
		},
		Nonce: probeNonce(),
	}
}

// perlConfig is a Handshaker in the Perl node's seat, as the README describes
// it (storable aside, which Go cannot offer), with its recorded nonce.
func perlConfig(g *aemp.Greeting, nonce string) aemp.HandshakeConfig {
	var params []aemp.Param
	for _, p := range g.Params {
		if p.Key != aemp.ParamTLS {
			params = append(params, p)
		}
	}
	return aemp.HandshakeConfig{
		NodeID:    g.NodeID,
		Secret:    "geheim",
		AuthOffer: []string{aemp.AuthTLSSHA3, aemp.AuthHMAC},
		Framings:  []string{aemp.FramingCBOR, aemp.FramingJSON},
		Params:    params,
		Nonce:     nonce,
	}
}

// conns splits a transcript's line records by connection and direction.
type connLines struct{ out, in []record }

func linesByConn(tr transcript) map[int]*connLines {
	m := map[int]*connLines{}
	for _, r := range tr.records {
		if r.Kind != "line" {
			continue
		}
		c := m[r.Conn]
		if c == nil {
			c = &connLines{}
			m[r.Conn] = c
		}
		switch r.Dir {
		case "out", "c2s":
			c.out = append(c.out, r)
		default:
			c.in = append(c.in, r)
		}
	}
	return m
}

// peerAddrOf returns the peeraddr the probe put in its greeting on conn.
func peerAddrOf(t *testing.T, tr transcript, conn int) string {
	if conn <= 1 {
		return tr.meta.Addr
	}
	for _, r := range tr.records {
		if r.Kind == "note" && r.Conn == conn {
			if _, a, ok := strings.Cut(r.Text, "accepted a connection from "); ok {
				return a
			}
		}
	}
	t.Fatalf("%s conn %d: no peer address", tr.name, conn)
	return ""
}

func TestGoldenRecordsParse(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		kinds := map[string]int{}
		for _, r := range tr.records {
			kinds[r.Kind]++
			switch r.Kind {
			case "meta", "line", "auth", "frame", "close", "note", "error", "end":
			default:
				t.Errorf("%s: unknown record kind %q", tr.name, r.Kind)
			}
			if r.Kind == "line" || r.Kind == "frame" {
				b := unhex(t, r.Hex)
				if r.Kind == "line" && string(b) != r.Text+"\n" {
					t.Errorf("%s: line hex %q is not its text %q plus LF", tr.name, b, r.Text)
				}
			}
		}
		if kinds["line"] == 0 {
			t.Errorf("%s: no handshake lines", tr.name)
		}
	}
}

// TestGoldenProbeLines rebuilds the probe's greeting and nonce byte for byte.
func TestGoldenProbeLines(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		if tr.meta.ProbeNode == "" {
			continue // Perl-to-Perl proxy recordings
		}
		for conn, cl := range linesByConn(tr) {
			cfg := probeConfig(tr, peerAddrOf(t, tr, conn))
			var start string
			if tr.name == "07_handshake_version_mismatch" {
				// A Handshaker only speaks version 1; format the probe's
				// version-2 greeting directly.
				g := aemp.Greeting{Protocol: "aemp", Version: "2", NodeID: cfg.NodeID, Auths: cfg.AuthAccept, Framings: cfg.Framings, Params: cfg.Params}
				start = g.String() + "\n" + cfg.Nonce + "\n"
			} else {
				h, err := aemp.NewHandshaker(cfg)
				if err != nil {
					t.Fatalf("%s: %v", tr.name, err)
				}
				start = string(h.Start())
			}
			want := string(unhex(t, cl.out[0].Hex)) + string(unhex(t, cl.out[1].Hex))
			if start != want {
				t.Errorf("%s conn %d: greeting+nonce\n got %q\nwant %q", tr.name, conn, start, want)
			}
			nonce, err := aemp.NewNonce(&counting{})
			if err != nil || nonce != cl.out[1].Text {
				t.Errorf("%s: NewNonce(0,1,2,…) = %q, %v; want %q", tr.name, nonce, err, cl.out[1].Text)
			}
		}
	}
}

// TestGoldenAuthValues recomputes every recorded auth value.
func TestGoldenAuthValues(t *testing.T) {
	n := 0
	for _, tr := range loadTranscripts(t) {
		for i, r := range tr.records {
			if r.Kind != "auth" {
				continue
			}
			n++
			var tok authToken
			if err := json.Unmarshal([]byte(tr.raw[i]), &tok); err != nil {
				t.Fatal(err)
			}
			lines := aemp.Lines{LocalGreeting: r.ProbeGreeting, LocalNonce: r.ProbeNonce, PeerGreeting: r.PeerGreeting, PeerNonce: r.PeerNonce}
			got, ok := aemp.AuthToken(r.ProbeMethod, tr.meta.ProbeSecret, lines)
			if !ok || got != tok.ProbeAuth {
				t.Errorf("%s: probe %s token = %s, want %s", tr.name, r.ProbeMethod, got, tok.ProbeAuth)
			}
			// What the probe expected from Perl, with the probe's secret.
			peerLines := aemp.Lines{LocalGreeting: r.PeerGreeting, LocalNonce: r.PeerNonce, PeerGreeting: r.ProbeGreeting, PeerNonce: r.ProbeNonce}
			if exp, _ := aemp.AuthToken(r.PeerMethod, tr.meta.ProbeSecret, peerLines); exp != r.PeerAuthExpected {
				t.Errorf("%s: expected peer token = %s, recorded %s", tr.name, exp, r.PeerAuthExpected)
			}
			if ok := aemp.VerifyAuthToken(r.PeerMethod, r.PeerAuth, tr.meta.ProbeSecret, lines); r.PeerAuthOK == nil || ok != *r.PeerAuthOK {
				t.Errorf("%s: verify with the probe's secret = %v, recorded %v", tr.name, ok, *r.PeerAuthOK)
			}
			// Perl's line is always right for Perl's own secret.
			if !aemp.VerifyAuthToken(r.PeerMethod, r.PeerAuth, tr.meta.PeerSecret, lines) {
				t.Errorf("%s: Perl's token does not verify with its own secret", tr.name)
			}
			// Perl sends its line with the recorded framing.
			if g, err := aemp.ParseGreeting(r.PeerGreeting); err != nil || aemp.FramingByName(r.PeerSendFraming) == nil {
				t.Errorf("%s: peer greeting %v, send framing %q", tr.name, err, r.PeerSendFraming)
			} else if _, ok := aemp.SelectFraming(strings.Split(tr.meta.ProbeFramings, ","), g.Framings); !ok {
				t.Errorf("%s: no framing in common", tr.name)
			}
		}
	}
	if n < 13 {
		t.Fatalf("checked %d auth records, want at least 13", n)
	}
}

// TestGoldenPerlGreetings parses every greeting a Perl node sent.
func TestGoldenPerlGreetings(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		for _, cl := range linesByConn(tr) {
			lines := cl.in
			if tr.meta.ProbeNode == "" { // proxy files: both sides are Perl
				lines = append(append([]record(nil), cl.in...), cl.out...)
			}
			for _, r := range lines {
				if !strings.HasPrefix(r.Text, "aemp;") {
					continue
				}
				g, err := aemp.ParseGreeting(string(unhex(t, r.Hex)))
				if err != nil {
					t.Errorf("%s: %v", tr.name, err)
					continue
				}
				if g.Protocol != "aemp" || g.Version != "1" || g.NodeID == "" {
					t.Errorf("%s: parsed %+v", tr.name, g)
				}
				if strings.Join(g.Auths, ",") != "tls_sha3_512,hmac_sha3_512,tls_anon,cleartext" ||
					strings.Join(g.Framings, ",") != "cbor,json,storable" {
					t.Errorf("%s: auths %v framings %v", tr.name, g.Auths, g.Framings)
				}
				if v, _ := g.Param(aemp.ParamProvider); v != "AE-2.02" && v != "AE-2.01" {
					t.Errorf("%s: provider %q", tr.name, v)
				}
				if g.WantsTLS() {
					t.Errorf("%s: tls wanted without a certificate", tr.name)
				}
				if g.String() != r.Text {
					t.Errorf("%s: String() = %q, want %q", tr.name, g.String(), r.Text)
				}
			}
		}
	}
}

// TestGoldenFrames decodes every recorded frame with its framing and
// compares it with the recorded text.
func TestGoldenFrames(t *testing.T) {
	n := 0
	for _, tr := range loadTranscripts(t) {
		for _, r := range tr.records {
			if r.Kind != "frame" {
				continue
			}
			n++
			f := aemp.FramingByName(r.Framing)
			if f == nil {
				t.Fatalf("%s: unknown framing %q", tr.name, r.Framing)
			}
			raw := unhex(t, r.Hex)
			got, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(raw)), aemp.Limits{}).Decode()
			if err != nil {
				t.Errorf("%s: decode %s %x: %v", tr.name, r.Framing, raw, err)
				continue
			}
			want := fromJSON(t, r.Text)
			if !equal(got, want, false) {
				t.Errorf("%s: %s frame %x\n got %s\nwant %s", tr.name, r.Framing, raw, show(got), show(want))
			}
			// The probe's own frames were written by Go: ours must be
			// byte-identical, except where the probe sent CBOR byte strings
			// on purpose (we send text strings).
			if (r.Dir == "out") && !strings.Contains(r.Diag, "h'") {
				enc, err := f.NewEncoder(nil, aemp.Limits{}).Append(nil, got)
				if err != nil || !bytes.Equal(enc, raw) {
					t.Errorf("%s: re-encoding %s\n got %x (%v)\nwant %x", tr.name, show(got), enc, err, raw)
				}
			}
		}
	}
	if n < 197 {
		t.Fatalf("decoded %d frames, want all 197", n)
	}
}

// TestGoldenStreams decodes each direction of each recorded connection as
// the continuous stream it was, delivered one byte per read.
func TestGoldenStreams(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		type key struct {
			conn int
			dir  string
		}
		streams := map[key][]byte{}
		frames := map[key][]record{}
		for _, r := range tr.records {
			if r.Kind == "frame" {
				k := key{r.Conn, r.Dir}
				streams[k] = append(streams[k], unhex(t, r.Hex)...)
				frames[k] = append(frames[k], r)
			}
		}
		for k, stream := range streams {
			framing := aemp.FramingByName(frames[k][0].Framing)
			dec := framing.NewDecoder(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(stream)), 16), aemp.Limits{})
			for i, r := range frames[k] {
				got, err := dec.Decode()
				if err != nil {
					t.Fatalf("%s %v frame %d: %v", tr.name, k, i, err)
				}
				if want := fromJSON(t, r.Text); !equal(got, want, false) {
					t.Errorf("%s %v frame %d: got %s want %s", tr.name, k, i, show(got), show(want))
				}
			}
			if _, err := dec.Decode(); err != nil && err.Error() != "EOF" {
				t.Errorf("%s %v: after the last frame: %v, want EOF", tr.name, k, err)
			}
		}
	}
}

// TestGoldenHandshakes drives the pure Handshaker through every recorded
// connection from the probe's seat, and through the failing scenarios from
// the Perl node's seat (Perl's reasons to close are ours to detect).
func TestGoldenHandshakes(t *testing.T) {
	wantErr := map[string]error{
		"03_handshake_wrong_secret": aemp.ErrAuthFailure,
		"08_handshake_self_nodeid":  aemp.ErrSelfConnect, // we are "peer" too
	}
	perlSeatErr := map[string]error{
		"05_handshake_no_common_auth":    aemp.ErrNoCommonAuth,
		"06_handshake_no_common_framing": aemp.ErrNoCommonFraming,
		"07_handshake_version_mismatch":  aemp.ErrVersionMismatch,
		"08_handshake_self_nodeid":       aemp.ErrSelfConnect,
	}
	checked := 0
	for _, tr := range loadTranscripts(t) {
		if tr.meta.ProbeNode == "" || tr.name == "07_handshake_version_mismatch" {
			continue // proxies; 07's probe speaks version 2, which a Handshaker cannot
		}
		for conn, cl := range linesByConn(tr) {
			checked++
			h, err := aemp.NewHandshaker(probeConfig(tr, peerAddrOf(t, tr, conn)))
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Step(cl.in[0].Text + "\n")
			if want := wantErr[tr.name]; want == aemp.ErrSelfConnect {
				if !errors.Is(err, want) {
					t.Errorf("%s: greeting step: %v, want %v", tr.name, err, want)
				}
				continue
			}
			if err != nil || out.Greeting == nil || out.Greeting.String() != cl.in[0].Text {
				t.Fatalf("%s: greeting step: %+v, %v", tr.name, out, err)
			}
			out, err = h.Step(cl.in[1].Text)
			if tr.name == "06_handshake_no_common_framing" {
				// The probe sent an auth line regardless; a Handshaker stops
				// here, having nothing Perl reads. The token is still right:
				tok, _ := aemp.AuthToken(aemp.AuthHMAC, "geheim", h.Lines())
				if !errors.Is(err, aemp.ErrNoCommonFraming) || !strings.Contains(cl.out[2].Text, tok) {
					t.Errorf("%s: nonce step: %v, want %v; token %s in %s", tr.name, err, aemp.ErrNoCommonFraming, tok, cl.out[2].Text)
				}
				continue
			}
			if err != nil || out.StartTLS {
				t.Fatalf("%s: nonce step: %+v, %v", tr.name, out, err)
			}
			if string(out.Send) != string(unhex(t, cl.out[2].Hex)) {
				t.Errorf("%s conn %d: auth line\n got %q\nwant %q", tr.name, conn, out.Send, unhex(t, cl.out[2].Hex))
			}
			if len(cl.in) < 3 { // 05, 06: Perl closed without an auth line
				continue
			}
			out, err = h.Step(cl.in[2].Text + "\r\n") // CRLF is tolerated
			if want := wantErr[tr.name]; want != nil {
				if !errors.Is(err, want) || out.Done {
					t.Errorf("%s: auth step: %v, want %v", tr.name, err, want)
				}
				var he *aemp.HandshakeError
				if !errors.As(err, &he) || he.Peer != "peer" {
					t.Errorf("%s: error %v does not name the peer", tr.name, err)
				}
				continue
			}
			if err != nil || !out.Done {
				t.Fatalf("%s: auth step: %+v, %v", tr.name, out, err)
			}
			res := h.Result()
			if res.SendFraming.Name() != tr.meta.ProbeSendFraming || res.RecvFraming.Name() != tr.meta.ProbeSendFraming ||
				res.RecvAuth != aemp.AuthHMAC || res.SendAuth != tr.meta.ProbeAuthMethod || !res.Trusted || res.TLS || res.Heartbeat != nil {
				t.Errorf("%s: result %+v", tr.name, res)
			}
		}
	}
	for _, tr := range loadTranscripts(t) {
		want, ok := perlSeatErr[tr.name]
		if !ok {
			continue
		}
		cl := linesByConn(tr)[0]
		g, err := aemp.ParseGreeting(cl.in[0].Text)
		if err != nil {
			t.Fatal(err)
		}
		h, err := aemp.NewHandshaker(perlConfig(g, cl.in[1].Text))
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Step(cl.out[0].Text)
		if err == nil {
			_, err = h.Step(cl.out[1].Text)
		}
		if !errors.Is(err, want) {
			t.Errorf("%s from Perl's seat: %v, want %v", tr.name, err, want)
		}
		checked++
	}
	if checked < 19 {
		t.Fatalf("checked %d handshakes", checked)
	}
}
