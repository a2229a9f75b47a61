package node_test

// Golden replay tests: the recordings of live AnyEvent::MP 2.02 nodes in
// aemp/testdata/transcripts (read their README.md) replayed against a
// real tether node over TCP. The tether node takes the seat of one side of
// a recorded connection; the test plays the other side with that side's
// recorded lines and frames, and checks that the tether node answers what
// the recorded node answered, modulo what the README says varies (nonces,
// HMACs, Perl's port name prefixes, times, hash order). They need no Perl.
//
// The wire level (every HMAC recomputed, every frame decoded in its
// framing, the pure Handshaker driven line by line) is node/aemp's
// golden_test.go; these tests check the node's behaviour.
//
// Seats:
//   - the Perl node "peer" (01, 02, 04, 06, 09–13, and 15 mirrored): the
//     test dials the tether node as the probe did and sends the probe's
//     recorded bytes, Perl's port names swapped for the tether node's;
//   - the probe "gonode" (01 dialing, 15, 18): the tether node dials a
//     listener of the test (or accepts from it, 18), the test sends the Perl
//     node's recorded frames, and the tether node's program sends what the
//     probe's program sent;
//   - handshake failures (03, 05–08) from both seats;
//   - the registry (14, 16–18, golden_registry_test.go): the global seed,
//     and the node that talks to it (a slave, another global), each seat
//     played by the tether node in turn.
//
// Where tether answers differently from Perl on purpose, an override says
// so (goldenOverride.why); the report of the issue lists them too.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/node/aemp"
)

// goldenCoverage says where each recording is used.
var goldenCoverage = map[string]string{
	"01_handshake_hmac_json":         "TestGoldenHandshakeTetherAccepts, TestGoldenHandshakeTetherDials",
	"02_handshake_hmac_cbor":         "TestGoldenHandshakeTetherAccepts",
	"03_handshake_wrong_secret":      "TestGoldenHandshakeTetherAccepts, TestGoldenHandshakeTetherDials",
	"04_handshake_cleartext":         "TestGoldenHandshakeTetherAccepts",
	"05_handshake_no_common_auth":    "TestGoldenHandshakeTetherAccepts, TestGoldenHandshakeTetherDials",
	"06_handshake_no_common_framing": "TestGoldenHandshakeTetherAccepts, TestGoldenHandshakeTetherDials",
	"07_handshake_version_mismatch":  "TestGoldenHandshakeTetherAccepts, TestGoldenHandshakeTetherDials",
	"08_handshake_self_nodeid":       "TestGoldenHandshakeTetherAccepts, TestGoldenHandshakeTetherDials",
	"09_snd_tag_reply":               "TestGoldenTetherAsPerlPeer",
	"10_monitor":                     "TestGoldenTetherAsPerlPeer",
	"11_remote_kill":                 "TestGoldenTetherAsPerlPeer",
	"12_node_requests":               "TestGoldenTetherAsPerlPeer",
	"13_spawn_cal":                   "TestGoldenTetherAsPerlPeer",
	"14_global_db":                   "TestGoldenGlobalDB",
	"15_perl_to_go":                  "TestGoldenPerlToGo, TestGoldenTetherAsPerlPeer",
	"16_proxy_peer_seed":             "TestGoldenPeerSeed",
	"17_proxy_global_mesh":           "TestGoldenGlobalMesh",
	"18_discovery_accept":            "TestGoldenDiscovery",
}

// TestGoldenCoverage: every recording is replayed here, so a new one
// cannot go unnoticed.
func TestGoldenCoverage(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		seen[name] = true
		if _, ok := goldenCoverage[name]; !ok {
			t.Errorf("recording %s is not replayed by any test (add it to goldenCoverage)", name)
		}
	}
	for name := range goldenCoverage {
		if !seen[name] {
			t.Errorf("recording %s is missing from %s", name, goldenDir)
		}
	}
}

// goldenOverride is what the tether node sends in place of a recorded
// frame, and why: frames are recorded values (names of the recorded run)
// or the golden matchers (goldenText, …); none means it sends nothing
// there. nth, if set, limits the override to the nth frame (from 1) with
// that text.
type goldenOverride struct {
	why    string
	frames []any
	nth    int
}

// goldenMove has the test send the recorded frame text (one of its own)
// only after the tether node's frame after, and says why.
type goldenMove struct {
	text, after, why string
}

// goldenReplay replays one recorded connection with a tether node over w,
// after the handshake: the test sends the frames of one side (play) and
// checks that the tether node sends those of the other, in order, modulo
// what varies (README) and the documented overrides. It ends with a time
// request that must be answered next (goldenWire.quiet): nothing else was
// sent.
type goldenReplay struct {
	t         *testing.T
	w         *goldenWire
	names     *goldenNames
	overrides map[string]goldenOverride // by the recorded frame's text

	// play is the direction of the records the test sends: "out" (the
	// probe's; the default), "in", "c2s" or "s2c". me is the node ID the
	// test plays (default: the probe's).
	play, me string

	// The frames the tether node sends, by recorded text: act is what
	// the tether node's program does to make it send one (program, if
	// set, for those act does not name); anyOrder, the frames that may
	// come in any order among their neighbours in the set (README).
	act      map[string]func()
	program  func(f []any)
	anyOrder map[string]bool

	// The frames the test sends, by recorded text: then checks a frame's
	// effect once it is sent (effect, if set, for those then does not
	// name: with the frame as recorded and as sent); skip, the frames the
	// test does not send, and why; moves reorder them.
	then   map[string]func()
	effect func(rec, sent []any)
	skip   map[string]string
	moves  []goldenMove

	// notes runs, at a recorded note (kind "note") with that text, what the
	// note says happened there.
	notes map[string]func()

	// The state of a run.
	used    map[string]bool   // "overrides <text>", "act <text>"…: what the run used
	seen    map[string]int    // the tether node's frames so far, by recorded text
	times   map[string]bool   // the reply ports of the time requests the test sent
	sets    map[string]bool   // the IDs of the g_db_keys and g_db_values the test sent
	ids     map[string]string // recorded query ID → the tether node's, for the queries it sent
	pending []any             // the tether node's frames that may come in any order…
	what    []string          // …and what each is
}

// goldenIsQuery reports whether f is a registry query (g_db_family,
// g_db_keys, g_db_values) and returns its ID.
func goldenIsQuery(f []any) (string, bool) {
	if len(f) != 4 || f[0] != aemp.NodePort {
		return "", false
	}
	switch f[1] {
	case aemp.ReqGDBFamily, aemp.ReqGDBKeys, aemp.ReqGDBValues:
		return goldenStr(f[3]), true
	}
	return "", false
}

func (r *goldenReplay) run(tr *goldenTranscript, conn int) {
	t := r.t
	t.Helper()
	if r.play == "" {
		r.play = "out"
	}
	if r.me == "" {
		r.me = tr.meta.ProbeNode
	}
	r.used, r.seen, r.times, r.sets, r.ids = map[string]bool{}, map[string]int{}, map[string]bool{}, map[string]bool{}, map[string]string{}
	for i, rec := range r.records(tr, conn) {
		switch {
		case rec.Kind == "note":
			if fn := r.notes[rec.Text]; fn != nil {
				r.used["notes "+rec.Text] = true
				r.flush()
				t.Logf("%s: %s", tr.name, rec.Text)
				fn()
			}
		case rec.Dir == r.play:
			r.flush()
			r.send(rec, fmt.Sprintf("%s conn %d record %d: recorded %s", tr.name, conn, i, rec.Text))
		default:
			r.expect(rec, fmt.Sprintf("%s conn %d record %d: recorded %s", tr.name, conn, i, rec.Text))
		}
	}
	r.flush()
	for kind, texts := range map[string][]string{
		"overrides": slices.Collect(maps.Keys(r.overrides)),
		"act":       slices.Collect(maps.Keys(r.act)),
		"then":      slices.Collect(maps.Keys(r.then)),
		"notes":     slices.Collect(maps.Keys(r.notes)),
		"skip":      slices.Collect(maps.Keys(r.skip)),
	} {
		for _, text := range texts {
			if !r.used[kind+" "+text] {
				t.Errorf("%s: %s[%s] was not used: no such record where it applies", tr.name, kind, text)
			}
		}
	}
	r.w.quiet(r.me)
}

// records returns the frames and notes of conn, in the order of the
// replay: as recorded, but for the moves.
func (r *goldenReplay) records(tr *goldenTranscript, conn int) []goldenRecord {
	t := r.t
	t.Helper()
	var recs []goldenRecord
	for _, rec := range tr.recs {
		if (rec.Kind == "frame" || rec.Kind == "note") && rec.Conn == conn {
			recs = append(recs, rec)
		}
	}
	for _, m := range r.moves {
		from := slices.IndexFunc(recs, func(rec goldenRecord) bool {
			return rec.Kind == "frame" && rec.Dir == r.play && rec.Text == m.text
		})
		if from < 0 {
			t.Fatalf("%s: move %s: no such frame of the test's", tr.name, m.text)
		}
		rec := recs[from]
		recs = slices.Delete(recs, from, from+1)
		to := slices.IndexFunc(recs, func(rec goldenRecord) bool {
			return rec.Kind == "frame" && rec.Dir != r.play && rec.Text == m.after
		})
		if to < 0 {
			t.Fatalf("%s: move %s after %s: no such frame of the tether node's", tr.name, m.text, m.after)
		}
		recs = slices.Insert(recs, to+1, rec)
		t.Logf("%s: the test sends %s after %s: %s", tr.name, m.text, m.after, m.why)
	}
	return recs
}

// send sends a frame of the test's side, with this run's names (the
// recorded bytes, if the names allow), and checks its effect.
func (r *goldenReplay) send(rec goldenRecord, what string) {
	t := r.t
	t.Helper()
	if why, ok := r.skip[rec.Text]; ok {
		r.used["skip "+rec.Text] = true
		t.Logf("%s: not sent: %s", what, why)
		return
	}
	f := rec.value(t)
	if len(f) >= 3 && f[0] == aemp.NodePort && f[1] == aemp.ReqTime {
		_, name, _ := goldenSplit(goldenStr(f[2]))
		r.times[name] = true
	}
	if id, ok := goldenIsQuery(f); ok && f[1] != aemp.ReqGDBFamily {
		r.sets[id] = true
	}
	want := r.names.outFrame(t, f)
	if len(want) >= 3 && want[0] == aemp.NodePort && want[1] == aemp.ReqGReply {
		if id, ok := r.ids[goldenStr(want[2])]; ok {
			want[2] = id // the answer to a query the tether node sent
		}
	}
	sent := false
	if rec.Framing == r.w.sendF.Name() {
		if raw, ok := r.names.patch(t, r.w.sendF, goldenUnhex(t, rec.Hex), want); ok {
			r.w.sendRaw(raw)
			sent = true
		}
	}
	if !sent {
		r.w.sendFrame(want)
	}
	if fn := r.then[rec.Text]; fn != nil {
		r.used["then "+rec.Text] = true
		fn()
	} else if r.effect != nil {
		r.effect(f, want)
	}
}

// expect makes the tether node send a frame of the other side (act,
// program) and checks that it does, or what it sends instead (overrides).
func (r *goldenReplay) expect(rec goldenRecord, what string) {
	t := r.t
	t.Helper()
	f := rec.value(t)
	if fn := r.act[rec.Text]; fn != nil {
		r.used["act "+rec.Text] = true
		fn()
	} else if r.program != nil {
		r.program(f)
	}
	r.seen[rec.Text]++
	wants := []any{f}
	if o, ok := r.overrides[rec.Text]; ok && (o.nth == 0 || o.nth == r.seen[rec.Text]) {
		r.used["overrides "+rec.Text] = true
		wants = o.frames
		what += "; tether differs on purpose: " + o.why
	}
	for _, want := range wants {
		l, ok := want.([]any)
		if !ok {
			t.Fatalf("%s: want %s, not a frame", what, goldenShow(want))
		}
		l = slices.Clone(l)
		if len(l) > 1 && r.times[goldenStr(l[0])] {
			l[len(l)-1] = goldenTime{} // the time varies
		}
		if len(l) == 4 && l[0] == aemp.NodePort && l[1] == aemp.ReqGReply && r.sets[goldenStr(l[2])] {
			if list, ok := l[3].([]any); ok {
				l[3] = goldenSet(list) // in Perl's hash order
			}
		}
		id, query := goldenIsQuery(l)
		if query {
			l[3] = goldenText{} // the tether node picks its own query IDs
		}
		if r.anyOrder[rec.Text] {
			if query {
				t.Fatalf("%s: a query cannot come in any order", what)
			}
			r.pending, r.what = append(r.pending, l), append(r.what, what)
			continue
		}
		r.flush()
		got := r.w.expectFrame(r.names, l, what)
		if query {
			r.ids[id] = goldenStr(got[3])
		}
	}
}

// flush reads as many frames as are pending and matches each with one of
// them, in any order.
func (r *goldenReplay) flush() {
	r.t.Helper()
	for len(r.pending) > 0 {
		got := r.w.recvFrame(r.pending[0])
		i := slices.IndexFunc(r.pending, func(w any) bool { return r.names.match(got, w) == nil })
		if i < 0 {
			r.t.Fatalf("%s (or %d more, in any order):\n got %s\nwant one of %s",
				r.what[0], len(r.pending)-1, goldenShow(got), goldenShow(r.pending))
		}
		r.pending, r.what = slices.Delete(r.pending, i, i+1), slices.Delete(r.what, i, i+1)
	}
}

// goldenProbeLines returns the probe's recorded greeting (edited, if edit
// is set), nonce, the auth method it sent and the framings it listed.
func goldenProbeLines(t *testing.T, tr *goldenTranscript, conn int, edit func(string) string) (greeting, nonce, method string, framings []string) {
	t.Helper()
	l := tr.lines(t, conn, "out")
	greeting = l[0]
	if edit != nil {
		greeting = edit(greeting)
	}
	if len(l) < 3 {
		t.Fatalf("%s: the probe sent no auth line", tr.name)
	}
	method, _, _ = strings.Cut(l[2], ";")
	return greeting, l[1], method, strings.Split(strings.Split(greeting, ";")[4], ",")
}

// goldenPerlLines returns the Perl node's recorded greeting (edited, if
// edit is set) and nonce on conn, and the framings it listed.
func goldenPerlLines(t *testing.T, tr *goldenTranscript, conn int, edit func(string) string) (greeting, nonce string, framings []string) {
	t.Helper()
	l := tr.lines(t, conn, "in")
	greeting = l[0]
	if edit != nil {
		greeting = edit(greeting)
	}
	return greeting, l[1], strings.Split(strings.Split(greeting, ";")[4], ",")
}

// goldenStillServes checks that the tether node in the Perl node's seat
// still takes a correct connection (the probe's, as in 01) after a failed
// one: a refused handshake affects nothing else.
func goldenStillServes(t *testing.T, p *goldenPeer) {
	t.Helper()
	tr := goldenLoad(t, "01_handshake_hmac_json")
	greeting, nonce, method, framings := goldenProbeLines(t, tr, 0, nil)
	w := goldenDial(t, p.n.Addrs()[0])
	w.readHello(p.n.ID())
	w.sendHello(greeting, nonce)
	w.sendAuth(method, goldenSecret, framings)
	w.readAuth(goldenSecret, "json")
	w.quiet("gonode")
}

// TestGoldenHandshakeTetherAccepts replays the probe's handshake lines of
// 01–08 into a tether node in the Perl node's seat (node ID "peer",
// listening, secret "geheim"), and then the recorded frames where there
// are any.
func TestGoldenHandshakeTetherAccepts(t *testing.T) {
	cases := []struct {
		file    string
		variant string              // how the test changes the probe's greeting, if it does
		edit    func(string) string // that change
		prefix  string              // Perl's port name prefix in the recorded frames
		framing string              // the tether node must send in this framing; "": it must refuse
		err     error               // why it refuses (what it logs)
		auth    bool                // it refuses after sending its auth line
	}{
		// hmac_sha3_512; the probe lists only json, so json both ways.
		{file: "01_handshake_hmac_json", framing: "json"},
		// The probe lists only cbor: cbor both ways; the replay has every
		// value type, byte strings and a mon1 of a missing port.
		{file: "02_handshake_hmac_cbor", framing: "cbor", prefix: "JG7KgDr2b"},
		// Perl writes its auth line before it checks the peer's, and closes
		// on the wrong secret: so must the tether node.
		{file: "03_handshake_wrong_secret", err: aemp.ErrAuthFailure, auth: true},
		// The probe sends cleartext, which a node must accept (it still
		// answers with hmac_sha3_512).
		{file: "04_handshake_cleartext", framing: "json"},
		// The probe accepts only cleartext, which nodes never send: the
		// tether node closes without an auth line.
		{file: "05_handshake_no_common_auth", err: aemp.ErrNoCommonAuth},
		// Difference on purpose: the probe lists only msgpack, which Perl
		// lacks (it closed) but tether nodes speak among themselves: the
		// tether node takes it.
		{file: "06_handshake_no_common_framing", framing: "msgpack"},
		// The same with a framing the tether node lacks: it closes as Perl did.
		{file: "06_handshake_no_common_framing", variant: "the probe lists only storable",
			edit: func(g string) string { return goldenField(g, 4, "storable") }, err: aemp.ErrNoCommonFraming},
		{file: "07_handshake_version_mismatch", err: aemp.ErrVersionMismatch},
		// The probe claims the ID "peer", the node's own.
		{file: "08_handshake_self_nodeid", err: aemp.ErrSelfConnect},
	}
	for _, tc := range cases {
		name := tc.file
		if tc.variant != "" {
			name += "/" + strings.ReplaceAll(tc.variant, " ", "_")
		}
		t.Run(name, func(t *testing.T) {
			tr := goldenLoad(t, tc.file)
			p := goldenStartPeer(t, node.Config{ID: "peer", Secret: goldenSecret})
			greeting, nonce, method, framings := goldenProbeLines(t, tr, 0, tc.edit)

			w := goldenDial(t, p.n.Addrs()[0])
			w.readHello("peer")
			w.sendHello(greeting, nonce)
			if tc.framing == "" {
				if tc.auth {
					w.sendAuth(method, tr.meta.ProbeSecret, framings)
					// Like Perl's in 03: right for the node's secret, not the probe's.
					token := w.authToken()
					if !aemp.VerifyAuthToken(aemp.AuthHMAC, token, goldenSecret, w.lines) ||
						aemp.VerifyAuthToken(aemp.AuthHMAC, token, tr.meta.ProbeSecret, w.lines) {
						t.Errorf("the tether node's auth token %s: want it to verify with %q and not with %q",
							token, goldenSecret, tr.meta.ProbeSecret)
					}
				}
				// (The probe wrote its auth line here too; the tether node
				// has refused the connection by then, so it would prove
				// nothing.)
				w.expectClosed()
				goldenWaitErr(t, p.errs, tc.err)
				if slices.Contains(p.n.Nodes(), tr.meta.ProbeNode) {
					t.Errorf("the refused node %s is linked: %v", tr.meta.ProbeNode, p.n.Nodes())
				}
				goldenStillServes(t, p)
				return
			}
			w.sendAuth(method, tr.meta.ProbeSecret, framings)
			w.readAuth(goldenSecret, tc.framing)
			r := &goldenReplay{t: t, w: w, names: p.names(tc.prefix, nil)}
			r.run(tr, 0)
			if !slices.Contains(p.n.Nodes(), tr.meta.ProbeNode) {
				t.Errorf("after the handshake the tether node is linked to %v, want %s among them", p.n.Nodes(), tr.meta.ProbeNode)
			}
		})
	}
}

// goldenAdded is what AddNode returned.
type goldenAdded struct {
	id  string
	err error
}

// goldenAddNode runs n.AddNode(addr) in the background (the test plays the
// node it connects to); it ends with the test at the latest.
func goldenAddNode(t *testing.T, n *node.Node, addr string) <-chan goldenAdded {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), goldenPatience)
	ch := make(chan goldenAdded, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		id, err := n.AddNode(ctx, addr)
		ch <- goldenAdded{id, err}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

func goldenWaitAdded(t *testing.T, ch <-chan goldenAdded) goldenAdded {
	t.Helper()
	timeout := clock.Real().NewTimer(goldenPatience)
	defer timeout.Stop()
	select {
	case a := <-ch:
		return a
	case <-timeout.Chan():
		t.Fatal("AddNode did not return")
		return goldenAdded{}
	}
}

// TestGoldenHandshakeTetherDials: the tether node in the probe's seat
// dials (AddNode) a listener where the test plays the Perl node with its
// recorded greeting and nonce (edited for the variants).
func TestGoldenHandshakeTetherDials(t *testing.T) {
	cases := []struct {
		file    string
		variant string              // how the test changes Perl's greeting, if it does
		edit    func(string) string // that change
		id      string              // the tether node's ID
		secret  string              // the tether node's secret (the probe's)
		framing string              // the tether node must send in this framing; "": AddNode must fail
		err     error
		auth    bool // it fails after the tether node's auth line
		// perlAuth: it fails on Perl's auth line, without sending its own
		perlAuth bool
	}{
		// Perl lists cbor,json,storable and tether msgpack,cbor,json: each
		// sends the first of the other's list it has, so cbor both ways.
		// Then the probe's time request and Perl's recorded answer.
		{file: "01_handshake_hmac_json", id: "gonode", secret: goldenSecret, framing: "cbor"},
		// The tether node has the probe's wrong secret. Difference on purpose:
		// as the node with the smaller ID ("gonode" < "peer") it withholds its
		// auth line until the peer's has verified (the handshake's TieBreak,
		// which decides simultaneous connects by authenticated identity), so
		// it rejects Perl's line and closes without sending its own; the
		// probe, like Perl, sent its line first.
		{file: "03_handshake_wrong_secret", id: "gonode", secret: "falsch", err: aemp.ErrAuthFailure, perlAuth: true},
		{file: "05_handshake_no_common_auth", variant: "Perl accepts only cleartext", id: "gonode", secret: goldenSecret,
			edit: func(g string) string { return goldenField(g, 3, "cleartext") }, err: aemp.ErrNoCommonAuth},
		{file: "06_handshake_no_common_framing", variant: "Perl lists only storable", id: "gonode", secret: goldenSecret,
			edit: func(g string) string { return goldenField(g, 4, "storable") }, err: aemp.ErrNoCommonFraming},
		{file: "07_handshake_version_mismatch", variant: "Perl says version 2", id: "gonode", secret: goldenSecret,
			edit: func(g string) string { return goldenField(g, 1, "2") }, err: aemp.ErrVersionMismatch},
		// The tether node is "peer" too: it refuses to talk to itself.
		{file: "08_handshake_self_nodeid", id: "peer", secret: goldenSecret, err: aemp.ErrSelfConnect},
	}
	for _, tc := range cases {
		name := tc.file
		if tc.variant != "" {
			name += "/" + strings.ReplaceAll(tc.variant, " ", "_")
		}
		t.Run(name, func(t *testing.T) {
			tr := goldenLoad(t, tc.file)
			s := goldenStartProbeSeat(t, node.Config{ID: tc.id, Secret: tc.secret}, "t1")
			greeting, nonce, framings := goldenPerlLines(t, tr, 0, tc.edit)
			ln := goldenListen(t)
			added := goldenAddNode(t, s.n, ln.Addr().String())

			w := goldenAccept(t, ln)
			w.readHello(tc.id)
			w.sendHello(greeting, nonce)
			if tc.framing == "" {
				if tc.perlAuth {
					w.sendAuth(aemp.AuthHMAC, tr.meta.PeerSecret, framings)
				}
				if tc.auth {
					w.sendAuth(aemp.AuthHMAC, tr.meta.PeerSecret, framings)
					token := w.authToken()
					if !aemp.VerifyAuthToken(aemp.AuthHMAC, token, tc.secret, w.lines) ||
						aemp.VerifyAuthToken(aemp.AuthHMAC, token, tr.meta.PeerSecret, w.lines) {
						t.Errorf("the tether node's auth token %s: want it to verify with %q and not with %q",
							token, tc.secret, tr.meta.PeerSecret)
					}
				}
				w.expectClosed()
				if a := goldenWaitAdded(t, added); !errors.Is(a.err, tc.err) {
					t.Errorf("AddNode = %q, %v; want an error that is %q", a.id, a.err, tc.err)
				}
				if got := s.n.Nodes(); len(got) != 0 {
					t.Errorf("after a refused handshake the tether node is linked to %v", got)
				}
				return
			}
			w.sendAuth(aemp.AuthHMAC, tr.meta.PeerSecret, framings)
			w.readAuth(tc.secret, tc.framing)
			if a := goldenWaitAdded(t, added); a.err != nil || a.id != "peer" {
				t.Fatalf("AddNode = %q, %v; want peer", a.id, a.err)
			}
			r := &goldenProbeReplay{t: t, s: s, w: w, perl: "peer"}
			r.run(tr, 0)
		})
	}
}

// TestGoldenTetherAsPerlPeer replays the probe's frames of 09–13, and of
// 15 mirrored, into a tether node in the Perl node's seat with the Perl
// peer's ports (goldenStartPeer), and checks its answers against Perl's.
func TestGoldenTetherAsPerlPeer(t *testing.T) {
	type override = map[string]goldenOverride
	cases := []struct {
		file   string
		prefix string // Perl's port name prefix in that run
		// bind lists the Perl names of the run that the tether node picks
		// itself, with the pattern of its names (see goldenNames).
		bind      func(p *goldenPeer) map[string]*regexp.Regexp
		overrides override
	}{
		// ping to the tag port and pongs, in order; echo; a message to a
		// port that does not exist vanishes (the next frame is the pong).
		{file: "09_snd_tag_reply", prefix: "Nd9T5tcZS"},
		// mon1 → kil0 on death by die and by an unhandled message;
		// no_such_port; mon0 cancels (the time reply comes first).
		{file: "10_monitor", prefix: "OGAPPWTAf", overrides: override{
			`["","kil0","OGAPPWTAfd","unhandled_message","no callback found for message 'bogus'"]`: {
				why:    "the unhandled_message text is tether's own; it names the tag",
				frames: []any{[]any{"", "kil0", "OGAPPWTAfd", "unhandled_message", goldenText{"bogus"}}},
			},
			`["","kil0","OGAPPWTAfe","no_such_port","cannot monitor nonexistent port","peer#OGAPPWTAfe"]`: {
				why: "a tether node remembers its latest deaths: a mon1 that arrives after the port was killed " +
					"reports the reason it died of, where Perl, which forgets at once, says no_such_port",
				frames: []any{[]any{"", "kil0", "OGAPPWTAfe", "unseen"}},
			},
		}},
		// kil1 with and without a reason; kil1 of a missing port does
		// nothing; mon1 of a killed port.
		{file: "11_remote_kill", prefix: "OtAMg7y1E", overrides: override{
			`["","kil0","OtAMg7y1Ec","no_such_port","cannot monitor nonexistent port","peer#OtAMg7y1Ec"]`: {
				why: "a tether node remembers its latest deaths: the mon1 right behind the kil1 " +
					"reports the kill's reason, where Perl says no_such_port",
				frames: []any{[]any{"", "kil0", "OtAMg7y1Ec", "gone"}},
			},
		}},
		// time (with extra reply args), can, snd relays, devnull, ["",""]
		// and [] ignored.
		{file: "12_node_requests", prefix: "PWBZvope6", overrides: override{
			`["v1","",3]`: {
				why:    "a Go node cannot evaluate Perl: it answers with an error text where Perl puts $@, and no results",
				frames: []any{[]any{"v1", goldenText{"eval", "not supported"}}},
			},
			`["v2","oops\n"]`: {
				why:    "a Go node cannot evaluate Perl: it answers with an error text where Perl puts $@",
				frames: []any{[]any{"v2", goldenText{"eval", "not supported"}}},
			},
		}},
		// AnyEvent::MP::_spawn with the name the caller chose, init
		// functions with and without a reply port, cal-style requests,
		// quit with and without a reason, die.
		{file: "13_spawn_cal", overrides: override{
			`["","kil0","GoProbe00Xe","no_such_port","cannot monitor nonexistent port","peer#GoProbe00Xe"]`: {
				why: "a spawn of a missing init function makes a port that dies of no_such_init (AnyEvent::MP's spawn), " +
					"and a tether node remembers its latest deaths: the mon1 right behind the spawn reports " +
					"that reason, where Perl says no_such_port",
				frames: []any{[]any{"", "kil0", "GoProbe00Xe", node.ReasonNoSuchInit, "Interop::NoSuch::func"}},
			},
		}},
		// 15 mirrored: the probe asks the tag port to send, watch (mon1 of
		// the probe's port; the probe answers kil0), kill (kil1), call (mon1 +
		// message with a reply port) and spawn_on (_spawn) on the probe's
		// node; the tether node must do what Perl did.
		{file: "15_perl_to_go", prefix: "RQD9b3WwK",
			bind: func(p *goldenPeer) map[string]*regexp.Regexp {
				return map[string]*regexp.Regexp{
					"RQD9b3WwKg":  p.localName(), // Perl's reply port for the call
					"mJ4RqPd4rOh": goldenSpawnName,
				}
			},
			overrides: override{
				`["rep","called",5]`: {
					why: "Call returns exactly once and stops monitoring the target (mon0); Perl's cal keeps its monitor",
					frames: []any{
						[]any{"", "mon0", "svc"},
						[]any{"rep", "called", int64(5)},
					},
				},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			tr := goldenLoad(t, tc.file)
			p := goldenStartPeer(t, node.Config{ID: "peer", Secret: goldenSecret})
			greeting, nonce, method, framings := goldenProbeLines(t, tr, 0, nil)
			w := goldenDial(t, p.n.Addrs()[0])
			w.readHello("peer")
			w.sendHello(greeting, nonce)
			w.sendAuth(method, tr.meta.ProbeSecret, framings)
			w.readAuth(goldenSecret, tr.meta.ProbeSendFraming)
			var bind map[string]*regexp.Regexp
			if tc.bind != nil {
				bind = tc.bind(p)
			}
			r := &goldenReplay{t: t, w: w, names: p.names(tc.prefix, bind), overrides: tc.overrides}
			r.run(tr, 0)
		})
	}
}

// goldenProbeReplay replays a recorded connection with the tether node in
// the probe's seat: the test sends the Perl node's frames ("in") and checks
// their effect on the tether node's ports; of the probe's frames ("out"),
// those in answers are the probe's node answering (the tether node must
// answer the same; a kil0 answers the death of the probe's port, which the
// test kills with that reason first, as the probe did), the others are
// messages the probe's program sent (the tether node's program sends the
// same, and it must arrive as recorded).
type goldenProbeReplay struct {
	t       *testing.T
	s       *goldenProbeSeat
	w       *goldenWire
	perl    string          // the Perl node's ID
	answers map[string]bool // by the recorded frame's text
}

func (r *goldenProbeReplay) run(tr *goldenTranscript, conn int) {
	t := r.t
	t.Helper()
	used := map[string]bool{}
	for i, rec := range tr.frames(conn) {
		f := rec.value(t)
		what := fmt.Sprintf("%s conn %d frame %d: recorded %s", tr.name, conn, i, rec.Text)
		switch rec.Dir {
		case "out":
			if r.answers[rec.Text] {
				used[rec.Text] = true
				if len(f) >= 3 && f[0] == aemp.NodePort && f[1] == aemp.ReqKil0 {
					id, ok := r.s.ids[goldenStr(f[2])]
					if !ok {
						t.Fatalf("%s: kil0 of a port the probe did not have", what)
					}
					r.sync() // the mon1 before it has been taken in
					r.s.n.Kill(id, f[3:]...)
				}
			} else {
				m := r.s.names.outFrame(t, f)
				r.s.n.Send(r.perl+"#"+goldenStr(m[0]), m[1:]...)
			}
			r.w.expectFrame(r.s.names, f, what)
		case "in":
			r.w.sendFrame(r.s.names.outFrame(t, f))
			r.effect(f, what)
		default:
			t.Fatalf("%s: frame direction %q", tr.name, rec.Dir)
		}
	}
	for text := range r.answers {
		if !used[text] {
			t.Errorf("%s: the answer %s was not used: no such frame recorded", tr.name, text)
		}
	}
	r.w.quiet(r.perl)
}

// effect checks what a frame from the Perl node did on the tether node.
func (r *goldenProbeReplay) effect(f []any, what string) {
	t := r.t
	t.Helper()
	port := goldenStr(f[0])
	if ch, ok := r.s.got[port]; ok { // a message to one of the probe's ports
		if err := r.s.names.match(goldenRecv(t, ch, what), f[1:]); err != nil {
			t.Fatalf("%s: the port received something else: %v", what, err)
		}
		return
	}
	if port != aemp.NodePort || len(f) < 2 {
		t.Fatalf("%s: a frame to port %q, which the probe did not have", what, port)
	}
	switch goldenStr(f[1]) {
	case aemp.ReqKil1: // the port dies with the reason given
		ch, ok := r.s.deaths[goldenStr(f[2])]
		if !ok {
			t.Fatalf("%s: kil1 of a port the probe did not have", what)
		}
		if err := r.s.names.match(goldenRecv(t, ch, what), f[3:]); err != nil {
			t.Fatalf("%s: the port died with another reason: %v", what, err)
		}
	case aemp.ReqSpawn: // the init function runs in the port Perl named
		timeout := clock.Real().NewTimer(goldenPatience)
		defer timeout.Stop()
		select {
		case c := <-r.s.inits:
			if want := r.s.n.ID() + "#" + goldenStr(f[2]); c.self != want {
				t.Errorf("%s: the init function ran in %q, want %q", what, c.self, want)
			}
			if err := r.s.names.match(c.args, f[4:]); err != nil {
				t.Errorf("%s: the init function got %s: %v", what, goldenShow(c.args), err)
			}
		case <-timeout.Chan():
			t.Fatalf("%s: the init function did not run", what)
		}
	case aemp.ReqMon1, aemp.ReqMon0: // seen in the kil0 answers and their absence
	default:
		t.Fatalf("%s: no check for this request", what)
	}
}

// sync waits until the tether node has taken in every frame sent so far:
// the answer to a time request comes after them.
func (r *goldenProbeReplay) sync() {
	r.w.sendFrame([]any{aemp.NodePort, aemp.ReqTime, r.perl + "#golden-sync"})
	r.w.expectFrame(&goldenNames{}, []any{"golden-sync", goldenTime{}}, "the answer to a time request sent to sync")
}

// TestGoldenPerlToGo replays 15 with the tether node in the probe's seat
// ("gonode", dialing the test as the probe dialed Perl): Perl's plain
// message (strings, ints, 1.5, null, a list, a map) reaches the port; its
// mon1 is answered with kil0 and the reason when the port dies; kil1 with
// and without a reason kills the port with that reason; the call (mon1,
// then the message with a reply port) is answered by the service port; the
// _spawn with the name Perl chose runs the init function in that port. The
// probe's own messages to Perl's tag port are sent by the tether node and
// must arrive as recorded.
func TestGoldenPerlToGo(t *testing.T) {
	tr := goldenLoad(t, "15_perl_to_go")
	s := goldenStartProbeSeat(t, node.Config{ID: "gonode", Secret: goldenSecret}, "m1", "w1", "k1", "k2", "svc", "rep")
	greeting, nonce, framings := goldenPerlLines(t, tr, 0, nil)
	ln := goldenListen(t)
	added := goldenAddNode(t, s.n, ln.Addr().String())
	w := goldenAccept(t, ln)
	w.readHello("gonode")
	w.sendHello(greeting, nonce)
	w.sendAuth(aemp.AuthHMAC, tr.meta.PeerSecret, framings)
	w.readAuth(goldenSecret, "cbor") // a Perl peer offering cbor,json,storable gets cbor
	if a := goldenWaitAdded(t, added); a.err != nil || a.id != "peer" {
		t.Fatalf("AddNode = %q, %v; want peer", a.id, a.err)
	}
	r := &goldenProbeReplay{t: t, s: s, w: w, perl: "peer", answers: map[string]bool{
		`["","kil0","w1","gone","bye"]`: true, // the probe killed w1, which Perl monitored
		`["RQD9b3WwKg",5]`:              true, // the probe's svc answered Perl's call
	}}
	r.run(tr, 0)
}
