package node

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The link's state machine, event by event (no network, no goroutines).

// ops renders effects compactly: "write x", "fire a,b transport_error …".
func ops(fx []linkEffect) []string {
	var out []string
	for _, e := range fx {
		switch e.op {
		case opWrite:
			out = append(out, fmt.Sprint("write ", e.frame[0]))
		case opRegistryUp:
			out = append(out, "registry up")
		case opRegistryDown:
			out = append(out, "registry down")
		case opStartDial:
			out = append(out, fmt.Sprint("dial ", e.gen))
		case opStopDial:
			out = append(out, fmt.Sprint("stop dial ", e.gen))
		case opArmTimer:
			out = append(out, fmt.Sprint("timer ", e.gen))
		case opStopTimer:
			out = append(out, fmt.Sprint("stop timer ", e.gen))
		case opStartConn:
			out = append(out, "start conn")
		case opCloseConn:
			out = append(out, "close conn "+e.text)
		case opFire:
			var names []string
			for _, m := range e.mons {
				names = append(names, m.action.(sendAction).port)
			}
			out = append(out, fmt.Sprintf("fire %s %s", strings.Join(names, ","), FormatReason(e.reason)))
		case opNodeUp:
			out = append(out, "node up")
		case opNodeDown:
			out = append(out, "node down")
		case opFailed:
			out = append(out, "failed "+e.text)
		}
	}
	return out
}

func mon(name string) *monitor { return &monitor{action: SendTo(name)} }

func expectOps(t *testing.T, s *linkState, want ...string) {
	t.Helper()
	if got := ops(s.effects()); !slices.Equal(got, want) {
		t.Fatalf("effects:\n got %q\nwant %q", got, want)
	}
}

func TestLinkStateQueueThenAttach(t *testing.T) {
	s := newLinkState("b", 1000)
	s.send([]any{"p1", "x"}, 10)
	expectOps(t, &s, "timer 1", "dial 2")
	s.send([]any{"p2", "y"}, 10)
	expectOps(t, &s) // already seeking
	if !s.dialing(2) || s.dialing(1) {
		t.Fatal("dialing: want generation 2 only")
	}
	if err := s.commit(7); err != nil {
		t.Fatal(err)
	}
	c := &conn{}
	if !s.attach(c, 7) {
		t.Fatal("attach refused")
	}
	// The queue goes out first, in order; seeking stops.
	expectOps(t, &s, "write p1", "write p2", "stop timer 1", "stop dial 2", "registry up", "start conn", "node up")
	s.send([]any{"p3"}, 10)
	expectOps(t, &s, "write p3")
	if s.dialing(2) {
		t.Fatal("the dial loop is still wanted after attach")
	}
}

func TestLinkStateQueueFull(t *testing.T) {
	s := newLinkState("b", 25)
	s.monitor("q", mon("mq"))
	s.send([]any{"p", 1}, 10)
	s.send([]any{"p", 2}, 10)
	s.effects()
	s.send([]any{"p", 3}, 10)
	expectOps(t, &s, "stop timer 1", "stop dial 2", "fire mq transport_error b send queue full", "failed send queue full")
	if len(s.queue) != 0 || s.queued != 0 {
		t.Fatalf("the queue was kept: %v", s.queue)
	}
}

// When the connection in use dies, every monitor fires — the ports' in
// the order of their names, then the node's — and seeking stops; a stale
// timer or dial loop changes nothing after.
func TestLinkStateDied(t *testing.T) {
	s := newLinkState("b", 1000)
	s.monitor("z", mon("mz"))
	s.monitor("a", mon("ma"))
	s.nodeMonitor(mon("mnode"))
	s.effects()
	c := &conn{}
	s.commit(1)
	s.attach(c, 1)
	s.effects()
	s.died(&conn{}, "not this one")
	expectOps(t, &s)
	s.died(c, "EOF")
	expectOps(t, &s, "registry down", "close conn EOF", "fire ma,mz,mnode transport_error b EOF", "node down", "failed EOF")
	s.timeout(1)
	s.died(c, "again")
	expectOps(t, &s)
	if s.dialing(2) {
		t.Fatal("the old dial loop is still wanted")
	}
}

func TestLinkStateConnectTimeout(t *testing.T) {
	for _, noAddr := range []bool{false, true} {
		s := newLinkState("b", 1000)
		s.monitor("p", mon("mp"))
		s.want()
		s.effects()
		if noAddr {
			s.noAddress()
		}
		s.timeout(99) // not this timer's generation
		expectOps(t, &s)
		s.timeout(1)
		text := textConnectTimeout
		if noAddr {
			text = textNoAddress
		}
		expectOps(t, &s, "stop dial 2", "fire mp transport_error b "+text, "failed "+text)
		// Wanted again: a new timer and a new dial loop, of new generations.
		s.want()
		expectOps(t, &s, "timer 3", "dial 4")
		if s.dialing(2) || !s.dialing(4) {
			t.Fatal("an old dial loop is wanted, or the new one is not")
		}
	}
}

// Simultaneous connects: every order of the events of two handshakes,
// each greeted, then committed, then attached (or abandoned when its
// commit was refused), gives exactly one connection in use, and refuses
// the other before it could be attached.
func TestLinkStateTieBreakEveryOrder(t *testing.T) {
	type step struct {
		hs   int // 0 or 1
		kind int // 0 greeted, 1 commit, 2 attach
	}
	var orders [][]step
	var gen func(prefix []step, next [2]int)
	gen = func(prefix []step, next [2]int) {
		if next[0] == 3 && next[1] == 3 {
			orders = append(orders, slices.Clone(prefix))
			return
		}
		for h := range 2 {
			if next[h] < 3 {
				n := next
				n[h]++
				gen(append(prefix, step{h, next[h]}), n)
			}
		}
	}
	gen(nil, [2]int{})
	if len(orders) != 20 {
		t.Fatalf("%d orders, want 20", len(orders))
	}
	for _, order := range orders {
		s := newLinkState("b", 1000)
		conns := [2]*conn{{}, {}}
		failed := [2]bool{}
		attached := 0
		for _, st := range order {
			if failed[st.hs] {
				continue
			}
			token := uint64(st.hs + 1)
			switch st.kind {
			case 0:
				failed[st.hs] = s.greeted() != nil
			case 1:
				if s.commit(token) != nil {
					failed[st.hs] = true
					s.abandon(token)
				}
			case 2:
				if s.attach(conns[st.hs], token) {
					attached++
				} else {
					failed[st.hs] = true
				}
			}
		}
		if attached != 1 || s.cur == nil || failed[0] == failed[1] {
			t.Errorf("order %v: %d attached, failed %v", order, attached, failed)
		}
	}
}

// A closed link takes nothing: sends are dropped, nothing is sought,
// handshakes are refused.
func TestLinkStateClose(t *testing.T) {
	s := newLinkState("b", 1000)
	s.monitor("p", mon("mp"))
	s.send([]any{"p", 1}, 10)
	s.effects()
	s.close()
	expectOps(t, &s, "stop timer 1", "stop dial 2", "fire mp transport_error b node closed", "failed node closed")
	s.send([]any{"p", 2}, 10)
	s.want()
	expectOps(t, &s)
	if s.greeted() == nil || s.commit(5) == nil || s.attach(&conn{}, 5) {
		t.Fatal("a closed link took a connection")
	}
}

// kil0 fires the monitors of that port only, once.
func TestLinkStateKilled(t *testing.T) {
	s := newLinkState("b", 1000)
	a, b := mon("ma"), mon("mb")
	s.monitor("p", a)
	s.monitor("q", b)
	if s.demonitor("q", b) != true || s.demonitor("q", b) != false {
		t.Fatal("demonitor: want the last one once")
	}
	s.monitor("q", b)
	s.killed("p", []any{"gone"})
	expectOps(t, &s, "fire ma gone")
	s.killed("p", []any{"again"})
	expectOps(t, &s)
}
