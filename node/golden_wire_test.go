package node_test

// Helpers of the golden replay tests (golden_test.go): loading the
// recordings, the test's end of a connection with a tether node (handshake
// lines and frames, by hand), and comparing what the tether node sends with
// what a Perl node sent, modulo the values the recordings' README says vary.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/node/aemp"
)

// goldenDir holds exchanges recorded between live AnyEvent::MP 2.02 nodes
// and a Go probe (see its README.md), copied from the project's shared
// fixtures; node/aemp's golden tests read them too.
const goldenDir = "aemp/testdata/transcripts"

// goldenPatience bounds every wait for the tether node: generous, since a
// test that passes never waits that long.
const goldenPatience = 10 * time.Second

// goldenSecret is the shared secret of every recording (03's probe aside).
const goldenSecret = "geheim"

// goldenRecord is one line of a transcript (the fields these tests use).
type goldenRecord struct {
	Kind    string `json:"kind"`
	Dir     string `json:"dir"`
	Conn    int    `json:"conn"`
	Text    string `json:"text"`
	Hex     string `json:"hex"`
	Framing string `json:"framing"`

	// meta
	Scenario    string `json:"scenario"`
	ProbeNode   string `json:"probe_node"`
	ProbeSecret string `json:"probe_secret"`
	PeerSecret  string `json:"peer_secret"`
	// the framing the probe sent in (it listed only that one)
	ProbeSendFraming string `json:"probe_send_framing"`
}

type goldenTranscript struct {
	name string
	meta goldenRecord
	recs []goldenRecord
}

// goldenLoad reads the transcript called name (without .jsonl).
func goldenLoad(t *testing.T, name string) *goldenTranscript {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &goldenTranscript{name: name}
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r goldenRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s line %d: %v", name, i+1, err)
		}
		tr.recs = append(tr.recs, r)
	}
	if len(tr.recs) < 2 || tr.recs[0].Kind != "meta" || tr.recs[len(tr.recs)-1].Kind != "end" {
		t.Fatalf("%s: not a transcript (meta … end)", name)
	}
	tr.meta = tr.recs[0]
	if tr.meta.Scenario != name {
		t.Fatalf("%s: meta names scenario %q", name, tr.meta.Scenario)
	}
	return tr
}

// lines returns the handshake lines sent in direction dir ("out": the
// probe's, "in": the Perl node's) on connection conn (0 in files with one).
func (tr *goldenTranscript) lines(t *testing.T, conn int, dir string) []string {
	t.Helper()
	var out []string
	for _, r := range tr.recs {
		if r.Kind == "line" && r.Conn == conn && r.Dir == dir {
			if b := goldenUnhex(t, r.Hex); string(b) != r.Text+"\n" {
				t.Fatalf("%s: line %q: hex is %q", tr.name, r.Text, b)
			}
			out = append(out, r.Text)
		}
	}
	if len(out) < 2 {
		t.Fatalf("%s conn %d: %d %s lines, want greeting and nonce at least", tr.name, conn, len(out), dir)
	}
	return out
}

// frames returns the frame records of connection conn, in recorded order.
func (tr *goldenTranscript) frames(conn int) []goldenRecord {
	var out []goldenRecord
	for _, r := range tr.recs {
		if r.Kind == "frame" && r.Conn == conn {
			out = append(out, r)
		}
	}
	return out
}

func goldenUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// value decodes the recorded bytes of a frame record in its framing.
func (r goldenRecord) value(t *testing.T) []any {
	t.Helper()
	f := aemp.FramingByName(r.Framing)
	if f == nil {
		t.Fatalf("frame %s: unknown framing %q", r.Text, r.Framing)
	}
	return goldenDecode(t, f, goldenUnhex(t, r.Hex))
}

func goldenDecode(t *testing.T, f *aemp.Framing, raw []byte) []any {
	t.Helper()
	v, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(raw)), aemp.Limits{}).Decode()
	if err != nil {
		t.Fatalf("decoding %s %x: %v", f.Name(), raw, err)
	}
	return v
}

// goldenField returns greeting with its i-th ';'-separated field replaced:
// the variants of recorded lines.
func goldenField(greeting string, i int, v string) string {
	f := strings.Split(greeting, ";")
	f[i] = v
	return strings.Join(f, ";")
}

// goldenStart starts a tether node on 127.0.0.1 for the test and returns
// it with the errors it logs (the only place an accepting node reports why
// it refused a connection). The node closes when the test ends.
func goldenStart(t *testing.T, cfg node.Config) (*node.Node, <-chan error) {
	t.Helper()
	errs := make(chan error, 256)
	cfg.Logger = slog.New(goldenLog{errs: errs})
	n, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), goldenPatience)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("closing node %s: %v", n.ID(), err)
		}
	})
	return n, errs
}

// goldenLog is a slog handler that passes on every error value logged.
type goldenLog struct{ errs chan error }

func (goldenLog) Enabled(context.Context, slog.Level) bool { return true }
func (h goldenLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			select {
			case h.errs <- err:
			default:
			}
		}
		return true
	})
	return nil
}
func (h goldenLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h goldenLog) WithGroup(string) slog.Handler      { return h }

// goldenWaitErr waits until the node has logged an error that is target.
func goldenWaitErr(t *testing.T, errs <-chan error, target error) {
	t.Helper()
	timeout := clock.Real().NewTimer(goldenPatience)
	defer timeout.Stop()
	var seen []string
	for {
		select {
		case err := <-errs:
			if errors.Is(err, target) {
				return
			}
			seen = append(seen, err.Error())
		case <-timeout.Chan():
			t.Fatalf("the node logged no %q error; it logged %q", target, seen)
		}
	}
}

// goldenRecv waits for what a tether port received.
func goldenRecv(t *testing.T, ch <-chan []any, what string) []any {
	t.Helper()
	timeout := clock.Real().NewTimer(goldenPatience)
	defer timeout.Stop()
	select {
	case m := <-ch:
		return m
	case <-timeout.Chan():
		t.Fatalf("%s: nothing arrived within %v", what, goldenPatience)
		return nil
	}
}

// goldenWire is the test's end of one connection with a tether node: it
// writes and reads the handshake lines itself, then frames.
type goldenWire struct {
	t     *testing.T
	conn  net.Conn
	br    *bufio.Reader
	lines aemp.Lines     // from the test's side: Local is ours, Peer the tether node's
	their *aemp.Greeting // the tether node's greeting
	sendF *aemp.Framing  // what we send in
	recvF *aemp.Framing  // what the tether node said it sends in
	enc   aemp.Encoder
	dec   aemp.Decoder
}

func goldenNewWire(t *testing.T, conn net.Conn) *goldenWire {
	t.Cleanup(func() { conn.Close() })
	return &goldenWire{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// goldenDial connects to a tether node's listener.
func goldenDial(t *testing.T, addr string) *goldenWire {
	t.Helper()
	d := net.Dialer{Timeout: goldenPatience}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return goldenNewWire(t, conn)
}

// goldenListen opens a listener for a tether node to dial, as a Perl node
// listens on 127.0.0.1:4152 in the recordings.
func goldenListen(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func goldenAccept(t *testing.T, ln *net.TCPListener) *goldenWire {
	t.Helper()
	if err := ln.SetDeadline(clock.Real().Now().Add(goldenPatience)); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("the tether node did not connect: %v", err)
	}
	return goldenNewWire(t, conn)
}

func (w *goldenWire) deadline() {
	if err := w.conn.SetDeadline(clock.Real().Now().Add(goldenPatience)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *goldenWire) write(b []byte) {
	w.t.Helper()
	w.deadline()
	if _, err := w.conn.Write(b); err != nil {
		w.t.Fatalf("writing %q: %v", b, err)
	}
}

func (w *goldenWire) readLine(what string) string {
	w.t.Helper()
	w.deadline()
	line, err := w.br.ReadString('\n')
	if err != nil {
		w.t.Fatalf("reading the tether node's %s: got %q, %v", what, line, err)
	}
	if strings.HasSuffix(line, "\r\n") {
		w.t.Fatalf("the tether node's %s ends in CRLF: %q", what, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// readHello reads the tether node's greeting and nonce. The test reads them
// before it writes its own: a node sends both at once, without waiting for
// the other side's (README: "the accepting side does exactly the same"), so
// a node that waited would fail here.
func (w *goldenWire) readHello(wantID string) {
	w.t.Helper()
	w.lines.PeerGreeting = w.readLine("greeting")
	w.lines.PeerNonce = w.readLine("nonce")
	g, err := aemp.ParseGreeting(w.lines.PeerGreeting)
	if err != nil {
		w.t.Fatalf("the tether node's greeting %q: %v", w.lines.PeerGreeting, err)
	}
	w.their = g
	// What a Perl node (and the probe) needs to find in it.
	if g.Protocol != "aemp" || g.Version != "1" || g.NodeID != wantID {
		w.t.Errorf("greeting %q: want aemp;1;%s;…", w.lines.PeerGreeting, wantID)
	}
	if !slices.Equal(g.Framings, []string{"msgpack", "cbor", "json"}) {
		w.t.Errorf("greeting %q lists framings %v, want msgpack,cbor,json", w.lines.PeerGreeting, g.Framings)
	}
	if !slices.Contains(g.Auths, aemp.AuthHMAC) || !slices.Contains(g.Auths, aemp.AuthCleartext) {
		w.t.Errorf("greeting %q: accepts %v, want hmac_sha3_512 and cleartext among them", w.lines.PeerGreeting, g.Auths)
	}
	if g.WantsTLS() {
		w.t.Errorf("greeting %q asks for TLS without a certificate", w.lines.PeerGreeting)
	}
	if len(w.lines.PeerNonce) != 88 || w.lines.PeerNonce == w.lines.LocalNonce {
		w.t.Errorf("nonce line %q: want 88 base64 characters (66 bytes), not ours", w.lines.PeerNonce)
	}
}

// sendHello writes our greeting and nonce lines, as recorded (or edited).
func (w *goldenWire) sendHello(greeting, nonce string) {
	w.t.Helper()
	w.lines.LocalGreeting, w.lines.LocalNonce = greeting, nonce
	w.write([]byte(greeting + "\n" + nonce + "\n"))
}

// sendAuth writes our auth line: method's token with secret over the four
// lines, and the framing we will send: by the protocol's rule, the first of
// the tether node's list that is in ours.
func (w *goldenWire) sendAuth(method, secret string, ours []string) {
	w.t.Helper()
	framing, ok := aemp.SelectFraming(w.their.Framings, ours)
	if !ok {
		w.t.Fatalf("no framing in common between %v and %v", w.their.Framings, ours)
	}
	token, ok := aemp.AuthToken(method, secret, w.lines)
	if !ok {
		w.t.Fatalf("unknown auth method %q", method)
	}
	w.sendF = aemp.FramingByName(framing)
	w.write([]byte(method + ";" + token + ";" + framing + "\n"))
}

// readAuth reads the tether node's auth line and checks that it is
// hmac_sha3_512 (what AnyEvent::MP sends without TLS), verifies with secret
// and names the framing want.
func (w *goldenWire) readAuth(secret, want string) {
	w.t.Helper()
	line := w.readLine("auth line")
	f := strings.Split(line, ";")
	if len(f) != 3 {
		w.t.Fatalf("auth line %q: want method;token;framing", line)
	}
	if f[0] != aemp.AuthHMAC {
		w.t.Errorf("auth line %q: method %q, want %s", line, f[0], aemp.AuthHMAC)
	}
	if !aemp.VerifyAuthToken(f[0], f[1], secret, w.lines) {
		w.t.Errorf("auth line %q does not verify with secret %q", line, secret)
	}
	if f[2] != want {
		w.t.Errorf("auth line %q: the tether node sends %q, want %q", line, f[2], want)
	}
	if w.recvF = aemp.FramingByName(f[2]); w.recvF == nil {
		w.t.Fatalf("auth line %q: unknown framing", line)
	}
	w.enc = w.sendF.NewEncoder(goldenConnWriter{w}, aemp.Limits{})
	w.dec = w.recvF.NewDecoder(w.br, aemp.Limits{})
}

// authToken reads the tether node's auth line and returns its token, for a
// handshake that is to fail after it.
func (w *goldenWire) authToken() string {
	w.t.Helper()
	f := strings.Split(w.readLine("auth line"), ";")
	if len(f) != 3 {
		w.t.Fatalf("auth line %q: want method;token;framing", strings.Join(f, ";"))
	}
	return f[1]
}

// expectClosed checks that the tether node closes the connection without
// sending anything more (EOF and a reset count alike, README: close).
func (w *goldenWire) expectClosed() {
	w.t.Helper()
	w.deadline()
	b, err := io.ReadAll(w.br)
	if len(b) > 0 {
		w.t.Errorf("the tether node sent %q before closing, want nothing", b)
	}
	switch {
	case err == nil, errors.Is(err, syscall.ECONNRESET):
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.t.Fatalf("the tether node did not close the connection within %v", goldenPatience)
	default:
		w.t.Fatalf("reading until the close: %v", err)
	}
}

type goldenConnWriter struct{ w *goldenWire }

func (c goldenConnWriter) Write(b []byte) (int, error) {
	c.w.deadline()
	return c.w.conn.Write(b)
}

// sendFrame sends a frame in our framing.
func (w *goldenWire) sendFrame(frame []any) {
	w.t.Helper()
	if err := w.enc.Encode(frame); err != nil {
		w.t.Fatalf("sending %s: %v", goldenShow(frame), err)
	}
}

// sendRaw sends bytes that hold one frame in our framing.
func (w *goldenWire) sendRaw(b []byte) {
	w.t.Helper()
	w.write(b)
}

// recvFrame reads the tether node's next frame.
func (w *goldenWire) recvFrame(want any) []any {
	w.t.Helper()
	w.deadline()
	f, err := w.dec.Decode()
	if err != nil {
		w.t.Fatalf("waiting for %s from the tether node: %v", goldenShow(want), err)
	}
	return f
}

// expectFrame reads the tether node's next frame and matches it with want.
func (w *goldenWire) expectFrame(names *goldenNames, want any, what string) []any {
	w.t.Helper()
	got := w.recvFrame(want)
	if err := names.match(got, want); err != nil {
		w.t.Fatalf("%s:\n got %s\nwant %s\n(%v)", what, goldenShow(got), goldenShow(want), err)
	}
	return got
}

// quiet proves that the tether node sent nothing the recording does not
// have: the answer to a fresh time request (with reply port node#name) must
// be the very next frame. me is the test's node ID.
func (w *goldenWire) quiet(me string) {
	w.t.Helper()
	w.sendFrame([]any{aemp.NodePort, aemp.ReqTime, me + "#golden-quiet"})
	w.expectFrame(&goldenNames{}, []any{"golden-quiet", goldenTime{}}, "after the replay, the reply to a time request must come next")
}

// goldenTime matches the tether node's clock: float seconds near now.
type goldenTime struct{}

// goldenText matches a string that contains each of the substrings.
type goldenText []string

// goldenSet matches a list with these elements in any order: the lists of
// g_reply to g_db_keys and g_db_values are in Perl's hash order (README).
type goldenSet []any

// goldenNames maps the port names of the recorded run to those of this
// run. fixed holds the names known before the replay (the recorded Perl
// ports and their tether counterparts, or the probe's ports); bind the
// names the tether node picks itself (reply ports, spawned names), each
// with the pattern its name must have: they are bound at their first
// appearance in a frame from the tether node. A string inside a frame is a
// name if it is one, or if it is "node#name".
type goldenNames struct {
	fixed map[string]string
	bind  map[string]*regexp.Regexp
	// guard, if set, is the recorded run's Perl port name prefix: a string
	// containing it that is no known name stops the test, rather than
	// silently going out unmapped.
	guard string
}

func goldenSplit(s string) (node, name string, qualified bool) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return "", s, false
}

// rename returns this run's counterpart of s, a recorded name (or
// "node#name"), if it has one.
func (g *goldenNames) rename(s string) (string, bool) {
	node, name, q := goldenSplit(s)
	m, ok := g.fixed[name]
	if !ok {
		return s, false
	}
	if q {
		return node + "#" + m, true
	}
	return m, true
}

// out maps the recorded names in v (a frame to send) to this run's, map
// keys included.
func (g *goldenNames) out(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case string:
		if m, ok := g.rename(x); ok {
			return m
		}
		_, name, _ := goldenSplit(x)
		if _, ok := g.bind[name]; ok {
			t.Fatalf("recorded name %q is to be sent before the tether node has named its own", x)
		}
		if g.guard != "" && strings.Contains(x, g.guard) {
			t.Fatalf("recorded port name %q has no counterpart in this run", x)
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = g.out(t, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[g.out(t, k).(string)] = g.out(t, e)
		}
		return out
	}
	return v
}

func (g *goldenNames) outFrame(t *testing.T, f []any) []any {
	t.Helper()
	return g.out(t, f).([]any)
}

// match checks a value from the tether node against a recorded one (in
// the recorded run's names), binding the names the tether node chose.
func (g *goldenNames) match(got, want any) error {
	switch w := want.(type) {
	case goldenTime:
		f, ok := got.(float64)
		now := float64(clock.Real().Now().UnixNano()) / 1e9
		if !ok || math.Abs(f-now) > 3600 {
			return fmt.Errorf("%s is not the time (float seconds, now %f)", goldenShow(got), now)
		}
		return nil
	case goldenText:
		s, ok := got.(string)
		if !ok || s == "" {
			return fmt.Errorf("%s is not a non-empty string", goldenShow(got))
		}
		for _, sub := range w {
			if !strings.Contains(s, sub) {
				return fmt.Errorf("%q does not contain %q", s, sub)
			}
		}
		return nil
	case string:
		s, ok := got.(string)
		if !ok {
			return fmt.Errorf("%s is not the string %q", goldenShow(got), w)
		}
		node, name, q := goldenSplit(w)
		if m, ok := g.fixed[name]; ok {
			if q {
				m = node + "#" + m
			}
			if s != m {
				return fmt.Errorf("%q, want %q (recorded %q)", s, m, w)
			}
			return nil
		}
		if re, ok := g.bind[name]; ok {
			gnode, gname, gq := goldenSplit(s)
			if gq != q || gnode != node || !re.MatchString(gname) {
				return fmt.Errorf("%q does not fit %q (a name like %s)", s, w, re)
			}
			if g.fixed == nil {
				g.fixed = map[string]string{}
			}
			g.fixed[name] = gname
			delete(g.bind, name)
			return nil
		}
		if s != w {
			return fmt.Errorf("%q, want %q", s, w)
		}
		return nil
	case []any:
		l, ok := got.([]any)
		if !ok || len(l) != len(w) {
			return fmt.Errorf("%s is not a list of %d", goldenShow(got), len(w))
		}
		for i := range w {
			if err := g.match(l[i], w[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case goldenSet:
		l, ok := got.([]any)
		if !ok || len(l) != len(w) {
			return fmt.Errorf("%s is not a list of %d", goldenShow(got), len(w))
		}
		used := make([]bool, len(l))
	next:
		for _, e := range w {
			for i := range l {
				if !used[i] && g.match(l[i], e) == nil {
					used[i] = true
					continue next
				}
			}
			return fmt.Errorf("%s has no element %s", goldenShow(got), goldenShow(e))
		}
		return nil
	case map[string]any:
		m, ok := got.(map[string]any)
		if !ok || len(m) != len(w) {
			return fmt.Errorf("%s is not a map of %d", goldenShow(got), len(w))
		}
		for k, v := range w {
			k, _ = g.rename(k)
			e, ok := m[k]
			if !ok {
				return fmt.Errorf("key %q missing", k)
			}
			if err := g.match(e, v); err != nil {
				return fmt.Errorf("{%q}: %w", k, err)
			}
		}
		return nil
	case nil, bool, int64, float64:
		if got != want {
			return fmt.Errorf("%s, want %s", goldenShow(got), goldenShow(want))
		}
		return nil
	}
	return fmt.Errorf("match: %T is not a recorded value", want)
}

// patch returns raw, a frame recorded in the probe's framing, with the
// recorded names replaced by this run's byte for byte, if that is
// possible (every name the same length), and want is what it decodes to:
// so the tether node gets the probe's very bytes (CBOR byte strings
// included), names aside.
func (g *goldenNames) patch(t *testing.T, f *aemp.Framing, raw []byte, want []any) ([]byte, bool) {
	t.Helper()
	for from, to := range g.fixed {
		if len(from) != len(to) {
			if bytes.Contains(raw, []byte(from)) {
				return nil, false
			}
			continue
		}
		raw = bytes.ReplaceAll(raw, []byte(from), []byte(to))
	}
	return raw, reflect.DeepEqual(goldenDecode(t, f, raw), want)
}

// goldenShow renders a value for failure messages, with types.
func goldenShow(v any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			b.WriteByte('[')
			for i, e := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				walk(e)
			}
			b.WriteByte(']')
		case map[string]any:
			keys := slices.Collect(maps.Keys(x))
			sort.Strings(keys)
			b.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%q: ", k)
				walk(x[k])
			}
			b.WriteByte('}')
		case string:
			fmt.Fprintf(&b, "%q", x)
		case nil:
			b.WriteString("null")
		case goldenTime:
			b.WriteString("<time>")
		case goldenText:
			fmt.Fprintf(&b, "<text with %q>", []string(x))
		case goldenSet:
			b.WriteString("<any order of ")
			walk([]any(x))
			b.WriteByte('>')
		default:
			fmt.Fprintf(&b, "%T(%v)", v, v)
		}
	}
	walk(v)
	return b.String()
}
