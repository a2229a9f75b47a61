package node_test

// Golden replays of the registry recordings (14, 16, 17, 18: seeds, global
// nodes, the g_* protocol; read transcripts/README.md), each in both seats:
// the tether node in the seat of the global seed, where the test plays the
// node that talks to it, and in the seat of that node (a slave, or another
// global), where the test plays the seed. In the slave's seat the probe's
// program becomes the tether node's: the API calls that make it send what
// the probe sent (goldenRegProgram), and checks of what the seed's answers
// did (query results, DBMon reports).

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/node/aemp"
	"github.com/tetherkit/tether/node/db"
)

// goldenSideLines returns the greeting, nonce and framing list that one
// side (dir) sent on conn, and the auth method it used.
func goldenSideLines(t *testing.T, tr *goldenTranscript, conn int, dir string) (greeting, nonce, method string, framings []string) {
	t.Helper()
	l := tr.lines(t, conn, dir)
	if len(l) < 3 {
		t.Fatalf("%s conn %d: %s sent no auth line", tr.name, conn, dir)
	}
	method, _, _ = strings.Cut(l[2], ";")
	return l[0], l[1], method, strings.Split(strings.Split(l[0], ";")[4], ",")
}

// goldenHandshake runs the test's side of a handshake on w: the tether node
// (ID id) sends its lines first; the test answers with those dir sent on
// conn, authenticates with the recordings' secret, and the tether node must
// send in framing.
func goldenHandshake(t *testing.T, w *goldenWire, tr *goldenTranscript, conn int, dir, id, framing string) {
	t.Helper()
	greeting, nonce, method, framings := goldenSideLines(t, tr, conn, dir)
	w.readHello(id)
	w.sendHello(greeting, nonce)
	w.sendAuth(method, goldenSecret, framings)
	w.readAuth(goldenSecret, framing)
}

// goldenFakeClock is a clock for a tether node that the test talks to as a
// Perl node would: nothing on it fires unless the test says so, so the
// node retries nothing behind the test's back (a lookup of an unknown node,
// say, is asked again on the next attempt of the link), and it reads the
// time of day for the time requests.
func goldenFakeClock() *clock.Fake { return clock.NewFake(clock.Real().Now()) }

// goldenRegProgram is the program of a tether node in the seat of a Perl
// registry client (the probe, the peer, seed2): act makes the node send what
// that client sent, through the API; effect checks what the seed's answers
// did. It also keeps registry monitors (DBMon) and checks their reports
// against the changes the test expects.
type goldenRegProgram struct {
	t      *testing.T
	n      *node.Node
	names  *goldenNames
	master string                // the seed's node ID: snd relays go to its node port
	asks   map[string]*goldenAsk // by recorded query ID
	mons   map[string]*goldenMon // by family

	ctx   context.Context
	calls sync.WaitGroup
}

type goldenAsk struct {
	tag  string
	done chan goldenAnswer
}

type goldenAnswer struct {
	v   any
	err error
}

// goldenMon is a DBMon and the family as the test expects it to see it.
type goldenMon struct {
	guard node.Guard
	ch    chan dbChange
	view  map[string]any // nil until the first report
}

func goldenNewRegProgram(t *testing.T, n *node.Node, names *goldenNames, master string) *goldenRegProgram {
	ctx, cancel := context.WithCancel(context.Background())
	p := &goldenRegProgram{t: t, n: n, names: names, master: master,
		asks: map[string]*goldenAsk{}, mons: map[string]*goldenMon{}, ctx: ctx}
	t.Cleanup(func() { cancel(); p.calls.Wait() })
	return p
}

// act makes the tether node send f, the recorded frame of the Perl client,
// by calling the API as the client's program did.
func (p *goldenRegProgram) act(f []any) {
	t := p.t
	t.Helper()
	if len(f) < 2 || f[0] != aemp.NodePort {
		t.Fatalf("no program for the frame %s", goldenShow(f))
	}
	tag := goldenStr(f[1])
	switch tag {
	case aemp.ReqGSlave, aemp.ReqGGlobal:
		// The node sends these by itself on a link to a seed.
	case aemp.ReqGFind:
		// No call: the node looks up a node it must reach and has no
		// address of (the test's act sends it something).
	case aemp.ReqGDBFamily, aemp.ReqGDBKeys, aemp.ReqGDBValues:
		family, id := goldenStr(f[2]), goldenStr(f[3])
		a := &goldenAsk{tag: tag, done: make(chan goldenAnswer, 1)}
		p.asks[id] = a
		p.calls.Go(func() {
			ctx, cancel := clock.WithTimeout(p.ctx, clock.Real(), goldenPatience)
			defer cancel()
			var ans goldenAnswer
			switch tag {
			case aemp.ReqGDBFamily:
				ans.v, ans.err = p.n.DBFamily(ctx, family)
			case aemp.ReqGDBKeys:
				var keys []string
				keys, ans.err = p.n.DBKeys(ctx, family)
				if !slices.IsSorted(keys) {
					ans.err = fmt.Errorf("DBKeys returned its keys unsorted: %q", keys)
				}
				l := make([]any, len(keys))
				for i, k := range keys {
					l[i] = k
				}
				ans.v = l
			case aemp.ReqGDBValues:
				ans.v, ans.err = p.n.DBValues(ctx, family)
			}
			a.done <- ans
		})
	case aemp.ReqGMon1:
		p.watch(goldenStr(f[2]))
	case aemp.ReqGMon0:
		family := goldenStr(f[2])
		m := p.mons[family]
		if m == nil {
			t.Fatalf("g_mon0 %s: the program does not monitor it", family)
		}
		m.guard.Stop()
		delete(p.mons, family)
	case aemp.ReqGUpd:
		c, err := aemp.ParseDBChange(aemp.Request{Tag: tag, Args: p.names.outFrame(t, f)[2:]})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range slices.Sorted(maps.Keys(c.Set)) {
			if _, err := p.n.DBSet(c.Family, k, c.Set[k]); err != nil {
				t.Fatal(err)
			}
		}
		if len(c.Del) > 0 {
			if err := p.n.DBDel(c.Family, c.Del...); err != nil {
				t.Fatal(err)
			}
		}
	case aemp.ReqSnd:
		// A relay through the seed: a message to its node port.
		p.n.Send(p.master+"#", p.names.outFrame(t, f)[1:]...)
	default:
		t.Fatalf("no program for the frame %s", goldenShow(f))
	}
}

// effect checks what sent, a frame the test sent as the seed (rec as
// recorded), did on the tether node.
func (p *goldenRegProgram) effect(rec, sent []any) {
	t := p.t
	t.Helper()
	if len(sent) < 2 || sent[0] != aemp.NodePort {
		t.Fatalf("no check for the frame %s", goldenShow(sent))
	}
	switch goldenStr(sent[1]) {
	case aemp.ReqGGlobal, aemp.ReqGFound:
		// Seen in what the node does next (a link to the node found).
	case aemp.ReqGReply: // the API call returns the result
		a := p.asks[goldenStr(rec[2])]
		if a == nil {
			t.Fatalf("g_reply %s: no such query", goldenStr(rec[2]))
		}
		delete(p.asks, goldenStr(rec[2]))
		var ans goldenAnswer
		timeout := clock.Real().NewTimer(goldenPatience)
		defer timeout.Stop()
		select {
		case ans = <-a.done:
		case <-timeout.Chan():
			t.Fatalf("%s: the call did not return after the answer %s", a.tag, goldenShow(sent))
		}
		want := rec[3]
		if l, ok := want.([]any); ok && a.tag != aemp.ReqGDBFamily {
			want = goldenSet(l)
		}
		if ans.err != nil {
			t.Fatalf("%s: the call failed: %v", a.tag, ans.err)
		}
		if err := p.names.match(ans.v, want); err != nil {
			t.Fatalf("%s: the call returned %s, want %s: %v", a.tag, goldenShow(ans.v), goldenShow(want), err)
		}
	case aemp.ReqGChg1:
		m, err := aemp.ParseFamilyMonitor(aemp.Request{Tag: aemp.ReqGChg1, Args: sent[2:]})
		if err != nil {
			t.Fatal(err)
		}
		p.expectFull(m.Family, m.All)
	case aemp.ReqGChg2:
		c, err := aemp.ParseDBChange(aemp.Request{Tag: aemp.ReqGChg2, Args: sent[2:]})
		if err != nil {
			t.Fatal(err)
		}
		p.expect(c.Family, c.Set, c.Del)
	default:
		t.Fatalf("no check for the frame %s", goldenShow(sent))
	}
}

// watch starts a DBMon of family.
func (p *goldenRegProgram) watch(family string) {
	p.t.Helper()
	m := &goldenMon{ch: make(chan dbChange, 64)}
	g, err := p.n.DBMon(family, func(c node.DBChange) {
		m.ch <- dbChange{maps.Clone(c.Entries), c.Added, c.Changed, c.Deleted}
	})
	if err != nil {
		p.t.Fatal(err)
	}
	m.guard = g
	p.t.Cleanup(g.Stop)
	p.mons[family] = m
}

// expectFull checks the first report of family's monitor: the whole
// family, every key added.
func (p *goldenRegProgram) expectFull(family string, all map[string]any) {
	p.t.Helper()
	m := p.mons[family]
	if m == nil || m.view != nil {
		p.t.Fatalf("the whole family %s: the program has no monitor waiting for it", family)
	}
	m.view = maps.Clone(all)
	if m.view == nil {
		m.view = map[string]any{}
	}
	p.report(family, m, dbChange{entries: m.view, added: slices.Sorted(maps.Keys(m.view))})
}

// expect checks the report of family's monitor, if any, on a change: keys
// set and deleted.
func (p *goldenRegProgram) expect(family string, set map[string]any, del []string) {
	p.t.Helper()
	m := p.mons[family]
	if m == nil {
		return // not monitored
	}
	var want dbChange
	for _, k := range del {
		if _, ok := m.view[k]; ok {
			delete(m.view, k)
			want.deleted = append(want.deleted, k)
		}
	}
	for k, v := range set {
		old, ok := m.view[k]
		switch {
		case !ok:
			want.added = append(want.added, k)
		case !db.Equal(old, v):
			want.changed = append(want.changed, k)
		default:
			continue
		}
		m.view[k] = v
	}
	if len(want.added)+len(want.changed)+len(want.deleted) == 0 {
		return // nothing to report: a later report or p.quiet would show one
	}
	slices.Sort(want.added)
	slices.Sort(want.changed)
	slices.Sort(want.deleted)
	want.entries = m.view
	p.report(family, m, want)
}

func (p *goldenRegProgram) report(family string, m *goldenMon, want dbChange) {
	p.t.Helper()
	timeout := clock.Real().NewTimer(goldenPatience)
	defer timeout.Stop()
	var got dbChange
	select {
	case got = <-m.ch:
	case <-timeout.Chan():
		p.t.Fatalf("DBMon %s: no report; want %v", family, want)
	}
	same := len(got.entries) == len(want.entries) &&
		slices.Equal(got.added, want.added) && slices.Equal(got.changed, want.changed) && slices.Equal(got.deleted, want.deleted)
	for k, v := range want.entries {
		if w, ok := got.entries[k]; !ok || !db.Equal(v, w) {
			same = false
		}
	}
	if !same {
		p.t.Fatalf("DBMon %s reported %v\nwant %v", family, got, want)
	}
}

// quiet checks that no monitor has a report the test did not expect.
func (p *goldenRegProgram) quiet() {
	p.t.Helper()
	for family, m := range p.mons {
		select {
		case c := <-m.ch:
			p.t.Errorf("DBMon %s reported %v, which the test did not expect", family, c)
		default:
		}
	}
}

// goldenHas returns a test of a family that it has key.
func goldenHas(key string) func(map[string]any) bool {
	return func(m map[string]any) bool { _, ok := m[key]; return ok }
}

// goldenRegistered waits until the global seed holds what the peer
// registered: its listen addresses and its echo and tag ports.
func goldenRegistered(t *testing.T, seed *node.Node, p *goldenPeer) {
	t.Helper()
	goldenWaitFamily(t, seed, db.FamilyListen, goldenHas(p.n.ID()))
	goldenWaitFamily(t, seed, "interop_echo", goldenHas(p.port("b")))
	goldenWaitFamily(t, seed, "interop_tag", goldenHas(p.port("c")))
}

// goldenClose closes a tether node, as a Perl node's process ends.
func goldenClose(t *testing.T, n *node.Node) {
	t.Helper()
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), goldenPatience)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("closing %s: %v", n.ID(), err)
	}
}

// goldenKeys returns the keys of family as n's registry has them.
func goldenKeys(t *testing.T, n *node.Node, family string) []string {
	t.Helper()
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), goldenPatience)
	defer cancel()
	keys, err := n.DBKeys(ctx, family)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestGoldenGlobalDB replays 14: a slave (the probe, "gonode") and its
// global seed, with the Perl peer registered at the seed.
//
// As the seed, the tether node (global: its own address among its seeds)
// has a tether node set up like the Perl peer as its slave; the test plays
// the probe: g_global first, g_slave, the queries (g_reply with the
// query's ID, {} for an unknown family), g_mon1 → g_chg1 (null for an
// unknown family), g_upd → g_chg2 ({} for a pure deletion), g_find →
// g_found (null for an unknown node), the peer's own dbset/dbdel reaching
// the probe's monitor, the peer's end wiping its shard (g_chg2 deletions in
// any order, 'l without it), and after g_mon0 no more g_chg2.
//
// As the probe, the tether node is a slave of the test, which plays the
// Perl seed: the tether node's program does what the probe's did, through
// the API, and gets what the probe got (query results, DBMon reports).
func TestGoldenGlobalDB(t *testing.T) {
	const kill = "probe runs: kill -TERM 9350"
	t.Run("tether_as_seed", func(t *testing.T) {
		tr := goldenLoad(t, "14_global_db")
		seed, seedAddr := goldenGlobal(t, node.Config{ID: "seed", Secret: goldenSecret})
		p := goldenStartPeer(t, node.Config{ID: "peer", Secret: goldenSecret, Seeds: []string{seedAddr}})
		goldenRegistered(t, seed, p) // as the Perl peer was before the probe came

		w := goldenDial(t, seedAddr)
		goldenHandshake(t, w, tr, 0, "out", "seed", "json")
		names := p.names("QoCiPVYOz", nil)
		names.fixed["127.0.0.1:4152"] = p.n.Addrs()[0]
		r := &goldenReplay{t: t, w: w, names: names,
			anyOrder: map[string]bool{
				`["","g_chg2","interop_fam",{},["pk2"]]`:              true,
				`["","g_chg2","interop_echo",{},["peer#QoCiPVYOzb"]]`: true,
			},
			notes: map[string]func(){kill: func() { goldenClose(t, p.n) }},
		}
		r.run(tr, 0)
	})

	t.Run("tether_as_probe", func(t *testing.T) {
		tr := goldenLoad(t, "14_global_db")
		ln := goldenListen(t)     // the Perl seed
		peerLn := goldenListen(t) // the Perl peer, found through the seed
		s := goldenStartProbeSeat(t, node.Config{ID: "gonode", Secret: goldenSecret,
			Binds: []string{"127.0.0.1:0"}, Seeds: []string{ln.Addr().String()}, Clock: goldenFakeClock()})
		// The probe's own entry, in its first g_slave (the handshake waits
		// for the test).
		if _, err := s.n.DBSet("gofam", "k1", "v1"); err != nil {
			t.Fatal(err)
		}
		w := goldenAccept(t, ln)
		goldenHandshake(t, w, tr, 0, "in", "gonode", "cbor")

		names := s.names
		names.fixed["127.0.0.1:4999"] = s.n.Addrs()[0]
		names.fixed["127.0.0.1:4152"] = peerLn.Addr().String()
		prog := goldenNewRegProgram(t, s.n, names, "seed")
		var peer *goldenWire
		r := &goldenReplay{t: t, w: w, names: names, play: "in", me: "seed",
			program: prog.act,
			effect:  prog.effect,
			overrides: map[string]goldenOverride{
				`["","g_upd","gofam",{"k2":"v2b","k3":["x",1]},[]]`: {
					why: "DBSet sets one key: the program's two calls send a g_upd each",
					frames: []any{
						[]any{"", "g_upd", "gofam", map[string]any{"k2": "v2b"}, []any{}},
						[]any{"", "g_upd", "gofam", map[string]any{"k3": []any{"x", int64(1)}}, []any{}},
					},
				},
			},
			act: map[string]func(){
				// A node asks g_find when it must reach a node it has no
				// address of: the program sends to the peer's tag port, and
				// to a port of a node nobody knows.
				`["","g_find","peer"]`:       func() { s.n.Send("peer#QoCiPVYOzc", "ping", "gonode#none", "found") },
				`["","g_find","nosuchnode"]`: func() { s.n.Send("nosuchnode#port", "lost") },
			},
			then: map[string]func(){
				// With the address found, the tether node connects to the
				// peer itself, and the message waiting for it arrives.
				`["","g_found","peer",["127.0.0.1:4152"]]`: func() {
					peer = goldenAccept(t, peerLn)
					goldenHandshake(t, peer, goldenLoad(t, "01_handshake_hmac_json"), 0, "in", "gonode", "cbor")
					peer.expectFrame(names, []any{"QoCiPVYOzc", "ping", "gonode#none", "found"}, "the message to the peer's port, after the lookup")
				},
				// (The link to nosuchnode now fails with "no known
				// address" when its connect timeout passes on the node's
				// clock, which this test does not advance.)
				`["","g_found","nosuchnode",null]`: func() {},
			},
			notes: map[string]func(){kill: func() {
				// Not recorded: a change of a monitored family from a node
				// that is not the master is ignored, so the next report of
				// interop_echo is the seed's deletion. (The reply to the
				// time request comes after the frame has been taken in.)
				peer.sendFrame([]any{"", "g_chg2", "interop_echo", map[string]any{"peer#bogus": "echo"}, []any{}})
				peer.quiet("peer")
				peer.conn.Close() // the Perl peer's process ends
			}},
		}
		r.run(tr, 0)
		prog.quiet()
	})
}

// TestGoldenPeerSeed replays 16, recorded between two Perl nodes: the peer
// (c2s) joins its seed (s2c), which is global.
//
// As the seed, the tether node gets the peer's recorded frames byte for
// byte (CBOR byte strings everywhere): it says g_global, answers g_find and
// g_db_keys, takes the peer's g_upd in its four-element form and with null
// for a pure deletion (its own monitors show each change), and when the
// peer goes it drops the peer's shard and closes.
//
// As the peer, the tether node (with the Perl peer's ports, registered in
// interop_echo and interop_tag) is the seed's slave: its first g_slave
// carries its whole database, its program's DBKeys, DBSet and DBDel send
// the queries and updates, a message to an unknown node asks g_find, and
// its tag port's death deletes the port's registration.
func TestGoldenPeerSeed(t *testing.T) {
	t.Run("tether_as_seed", func(t *testing.T) {
		tr := goldenLoad(t, "16_proxy_peer_seed")
		seed, seedAddr := goldenGlobal(t, node.Config{ID: "seed", Secret: goldenSecret})
		names := &goldenNames{fixed: map[string]string{"127.0.0.1:4151": seedAddr}}
		mons := goldenNewRegProgram(t, seed, names, "")
		for _, f := range []string{db.FamilyListen, "interop_echo", "interop_tag", "interop_fam"} {
			mons.watch(f)
			all := map[string]any{}
			if f == db.FamilyListen {
				all["seed"] = []any{seedAddr}
			}
			mons.expectFull(f, all)
		}

		w := goldenDial(t, seedAddr)
		goldenHandshake(t, w, tr, 1, "c2s", "seed", "cbor")
		r := &goldenReplay{t: t, w: w, names: names, play: "c2s", me: "peer",
			// What the peer's frames do, seen by the seed's monitors.
			effect: func(_, sent []any) {
				switch goldenStr(sent[1]) {
				case aemp.ReqGSlave:
					if len(sent) > 2 {
						for f, fam := range sent[2].(map[string]any) {
							mons.expect(f, fam.(map[string]any), nil)
						}
					}
				case aemp.ReqGUpd:
					c, err := aemp.ParseDBChange(aemp.Request{Tag: aemp.ReqGUpd, Args: sent[2:]})
					if err != nil {
						t.Fatal(err)
					}
					mons.expect(c.Family, c.Set, c.Del)
				}
			},
		}
		r.run(tr, 1)
		mons.quiet()

		// The peer ends (its close is recorded): the seed drops its shard,
		// and closes too.
		if err := w.conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		mons.expect(db.FamilyListen, nil, []string{"peer"})
		mons.expect("interop_echo", nil, []string{"peer#TMGHkIPcgb"})
		mons.expect("interop_fam", nil, []string{"b"})
		w.expectClosed()
		mons.quiet()
	})

	t.Run("tether_as_peer", func(t *testing.T) {
		tr := goldenLoad(t, "16_proxy_peer_seed")
		ln := goldenListen(t) // the Perl seed
		p := goldenStartPeer(t, node.Config{ID: "peer", Secret: goldenSecret,
			Seeds: []string{ln.Addr().String()}, Clock: goldenFakeClock()})
		w := goldenAccept(t, ln)
		goldenHandshake(t, w, tr, 1, "s2c", "peer", "cbor")

		names := p.names("TMGHkIPcg", nil)
		names.fixed["127.0.0.1:4152"] = p.n.Addrs()[0]
		prog := goldenNewRegProgram(t, p.n, names, "seed")
		fiveElements := "a tether node sends g_upd in the five-element form, with an empty deletion list " +
			"(a Perl slave leaves the list out; both are accepted)"
		r := &goldenReplay{t: t, w: w, names: names, play: "s2c", me: "seed",
			program: prog.act,
			effect:  prog.effect,
			overrides: map[string]goldenOverride{
				`["","g_slave"]`: {
					why: "a tether node sends one bare g_slave on each link to a seed, where this Perl peer sent two",
					nth: 2,
				},
				`["","g_find","seed"]`: {
					why: "a tether node does not look up the addresses of a seed it is linked to already",
				},
				`["","g_upd","interop_fam",{"a":1}]`: {why: fiveElements,
					frames: []any{[]any{"", "g_upd", "interop_fam", map[string]any{"a": int64(1)}, []any{}}}},
				`["","g_upd","interop_fam",{"b":{"x":[1,2]}}]`: {why: fiveElements,
					frames: []any{[]any{"", "g_upd", "interop_fam", map[string]any{"b": map[string]any{"x": []any{int64(1), int64(2)}}}, []any{}}}},
			},
			skip: map[string]string{
				`["","g_found","seed",["127.0.0.1:4151"]]`: "it answers the g_find of the seed that the tether node does not send",
			},
			act: map[string]func(){
				// A message to a node nobody knows: the link asks the master.
				`["","g_find","ghost"]`: func() { p.n.Send("ghost#port", "boo") },
				// The tag port dies: its registration (DBReg) goes.
				`["","g_upd","interop_tag",null,["peer#TMGHkIPcgc"]]`: func() { p.n.Kill(p.port("c"), "die", "asked to die") },
			},
		}
		r.run(tr, 1)
		prog.quiet()

		// The peer ends (its close is recorded): the seed sees its link
		// close. Difference on purpose: a tether node that closes kills its
		// ports first (normal deaths), so its registration of the echo port
		// (DBReg) is deleted before the link goes; the recorded Perl peer,
		// stopped with TERM, just went.
		// A closing node ends its connections with a FIN and waits for the
		// peer's end: the test's, here, once it has read everything.
		closed := make(chan error, 1)
		closeCtx, cancelClose := clock.WithTimeout(context.Background(), clock.Real(), goldenPatience)
		defer cancelClose()
		go func() { closed <- p.n.Close(closeCtx) }()
		w.expectFrame(names, []any{"", "g_upd", "interop_echo", nil, []any{p.port("b")}},
			"a closing tether node deletes its registrations first")
		w.expectClosed()
		w.conn.Close()
		if err := <-closed; err != nil {
			t.Fatalf("closing peer: %v", err)
		}
	})
}

// TestGoldenGlobalMesh replays 17, recorded between two Perl global nodes:
// seed2 (c2s; its seeds are itself and seed) meets seed (s2c), which has
// the Perl peer as its slave. Each says g_global first, lists the other in
// 'g (g_upd), sends it what it holds for itself and its slaves (g_set), and
// keeps the other's listen addresses among its own entries (g_upd 'l).
func TestGoldenGlobalMesh(t *testing.T) {
	t.Run("tether_as_seed", func(t *testing.T) {
		tr := goldenLoad(t, "17_proxy_global_mesh")
		seed, seedAddr := goldenGlobal(t, node.Config{ID: "seed", Secret: goldenSecret})
		p := goldenStartPeer(t, node.Config{ID: "peer", Secret: goldenSecret, Seeds: []string{seedAddr}})
		goldenRegistered(t, seed, p)

		w := goldenDial(t, seedAddr)
		goldenHandshake(t, w, tr, 1, "c2s", "seed", "cbor")
		names := p.names("UYMwlBcwu", nil)
		names.fixed["127.0.0.1:4151"] = seedAddr
		names.fixed["127.0.0.1:4152"] = p.n.Addrs()[0]
		names.fixed["127.0.0.1:4153"] = goldenListen(t).Addr().String() // seed2's (never dialled here)
		r := &goldenReplay{t: t, w: w, names: names, play: "c2s", me: "seed2"}
		r.run(tr, 1)

		if keys := goldenKeys(t, seed, db.FamilyGlobal); !slices.Equal(keys, []string{"seed", "seed2"}) {
			t.Errorf("the seed's 'g: %q, want seed and seed2", keys)
		}
		if keys := goldenKeys(t, seed, db.FamilyListen); !slices.Equal(keys, []string{"peer", "seed", "seed2"}) {
			t.Errorf("the seed's 'l: %q, want peer, seed and seed2", keys)
		}
	})

	t.Run("tether_as_seed2", func(t *testing.T) {
		tr := goldenLoad(t, "17_proxy_global_mesh")
		ln := goldenListen(t) // the Perl seed
		seed2, seed2Addr := goldenGlobal(t, node.Config{ID: "seed2", Secret: goldenSecret, Clock: goldenFakeClock()},
			ln.Addr().String())
		w := goldenAccept(t, ln)
		goldenHandshake(t, w, tr, 1, "s2c", "seed2", "cbor")
		names := &goldenNames{fixed: map[string]string{
			"127.0.0.1:4153": seed2Addr,
			"127.0.0.1:4151": ln.Addr().String(),
			"127.0.0.1:4152": goldenListen(t).Addr().String(), // the peer's (never dialled here)
		}}
		r := &goldenReplay{t: t, w: w, names: names, play: "s2c", me: "seed",
			overrides: map[string]goldenOverride{
				`["","g_slave"]`: {
					why: "a global node sends g_global first on every link (as the Perl seed does here); " +
						"this Perl seed2 sent its bare g_slave to its seed first",
					frames: []any{[]any{"", "g_global"}, []any{"", "g_slave"}},
				},
				`["","g_global"]`: {why: "sent first (above)"},
			},
			moves: []goldenMove{{text: `["","g_global"]`, after: `["","g_global"]`,
				why: "the seed's g_global and the tether node's bare g_slave are independent (the node sends " +
					"g_slave once it knows the link is to a seed): the test waits for that g_slave, so that " +
					"what follows comes in one order"}},
		}
		r.run(tr, 1)

		if keys := goldenKeys(t, seed2, db.FamilyGlobal); !slices.Equal(keys, []string{"seed", "seed2"}) {
			t.Errorf("seed2's 'g: %q, want seed and seed2", keys)
		}
		fam := goldenFamily(t, seed2, "interop_echo")
		if err := names.match(fam, map[string]any{"peer#UYMwlBcwub": "echo"}); err != nil {
			t.Errorf("seed2's interop_echo, from the seed's g_set: %s: %v", goldenShow(fam), err)
		}
	})
}

// goldenFamily returns family as n's registry has it.
func goldenFamily(t *testing.T, n *node.Node, family string) map[string]any {
	t.Helper()
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), goldenPatience)
	defer cancel()
	m, err := n.DBFamily(ctx, family)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGoldenDiscovery replays 18: the probe publishes its listen address
// at the seed (conn 1: g_slave with 'l, g_find of itself, a relay asking
// the peer to send to the probe's port), and the Perl peer, which has no
// link to the probe, finds it at its master and connects to it (conn 2):
// the accepting side sends its greeting and nonce at once, the message
// queued meanwhile arrives first, a ping goes back over the same link.
//
// As the probe, the tether node publishes its listener through g_slave and
// accepts the peer's connection. As the seed, the tether node answers
// g_find and relays to a tether node set up like the Perl peer, which looks
// the probe up and connects to the test's listener.
func TestGoldenDiscovery(t *testing.T) {
	t.Run("tether_as_probe", func(t *testing.T) {
		tr := goldenLoad(t, "18_discovery_accept")
		ln := goldenListen(t) // the Perl seed
		s := goldenStartProbeSeat(t, node.Config{ID: "gonode", Secret: goldenSecret,
			Binds: []string{"127.0.0.1:0"}, Seeds: []string{ln.Addr().String()}, Clock: goldenFakeClock()}, "inbox", "p1")
		w := goldenAccept(t, ln)
		goldenHandshake(t, w, tr, 1, "in", "gonode", "cbor")
		names := s.names
		names.fixed["127.0.0.1:4170"] = s.n.Addrs()[0]
		prog := goldenNewRegProgram(t, s.n, names, "seed")
		r := &goldenReplay{t: t, w: w, names: names, play: "in", me: "seed",
			program: prog.act,
			effect:  prog.effect,
			overrides: map[string]goldenOverride{
				`["","g_find","gonode"]`: {why: "a tether node does not look itself up"},
			},
			skip: map[string]string{
				`["","g_found","gonode",["127.0.0.1:4170"]]`: "it answers the g_find the tether node does not send",
			},
		}
		r.run(tr, 1)

		// conn 2: the Perl peer connects to the address the node published.
		greeting, nonce, framings := goldenPerlLines(t, tr, 2, nil)
		w2 := goldenDial(t, s.n.Addrs()[0])
		w2.readHello("gonode") // before the test has sent anything
		w2.sendHello(greeting, nonce)
		w2.sendAuth(aemp.AuthHMAC, tr.meta.PeerSecret, framings)
		w2.readAuth(goldenSecret, "cbor")
		r2 := &goldenProbeReplay{t: t, s: s, w: w2, perl: "peer"}
		r2.run(tr, 2)
		if got := s.n.Nodes(); !slices.Equal(got, []string{"peer", "seed"}) {
			t.Errorf("the tether node is linked to %v, want peer (over the accepted connection) and seed", got)
		}
	})

	t.Run("tether_as_seed", func(t *testing.T) {
		tr := goldenLoad(t, "18_discovery_accept")
		seed, seedAddr := goldenGlobal(t, node.Config{ID: "seed", Secret: goldenSecret})
		p := goldenStartPeer(t, node.Config{ID: "peer", Secret: goldenSecret, Seeds: []string{seedAddr}})
		goldenRegistered(t, seed, p)
		probeLn := goldenListen(t) // the probe's listener

		w := goldenDial(t, seedAddr)
		goldenHandshake(t, w, tr, 1, "out", "seed", "json")
		names := p.names("S2ECamyar", nil)
		names.fixed["127.0.0.1:4170"] = probeLn.Addr().String()
		r := &goldenReplay{t: t, w: w, names: names}
		r.run(tr, 1)

		// conn 2: the peer, asked to send to gonode#inbox, finds the probe at
		// its master and connects to the probe's listener.
		w2 := goldenAccept(t, probeLn)
		goldenHandshake(t, w2, tr, 2, "out", "peer", "json")
		r2 := &goldenReplay{t: t, w: w2, names: names}
		r2.run(tr, 2)
		w.quiet("gonode") // and the seed sent the probe nothing more meanwhile
	})
}
