package node_test

// The ports of the golden replay tests: a tether node set up like the Perl
// node "peer" of the recordings (transcripts/README.md, "The Perl side"),
// and a tether node in the Go probe's seat ("gonode").

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// goldenPeer is a tether node in the Perl node's seat.
type goldenPeer struct {
	n    *node.Node
	errs <-chan error
	// roles maps the counter of a recorded Perl port name to this node's
	// port for the same role: Perl made echo, tag, victim1..3 in that order,
	// so they end in b, c, d, e, f (README).
	roles map[string]string
}

// localName matches the names this node gives its own ports: the prefix
// its first ports have, and a lowercase counter.
func (p *goldenPeer) localName() *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(p.roles["b"][:9]) + "[a-z]+$")
}

// goldenSpawnName matches the names a node picks for a remote spawn: 10
// characters, the last one uppercase, then a lowercase counter (Perl's
// RUNIQ and tether's alike).
var goldenSpawnName = regexp.MustCompile(`^[0-9A-Za-z]{9}[A-Z][a-z]+$`)

// goldenStartPeer starts a tether node from cfg (normally ID "peer", the
// recordings' secret, and seeds where the Perl peer had them), listening
// on 127.0.0.1 unless cfg binds elsewhere, with the Perl peer's ports:
//
//   - echo: [reply-port, a…] sends a… to reply-port; registered in the
//     registry family interop_echo with the value "echo";
//   - tag: tag handlers only (ping, die, send, kill, watch, call, spawn_on,
//     dbset, dbdel); any other first element kills it with
//     unhandled_message; registered in interop_tag with the value "tag";
//   - victim1..3: no handler at all;
//   - the spawnable init functions ::interop_init and InteropPeer::init.
//
// Where the test plays the seed, which answers the handshake only after
// this returns, the peer's first g_slave carries the registrations, as the
// Perl peer's did; with a tether seed they may follow as g_upd.
func goldenStartPeer(t *testing.T, cfg node.Config) *goldenPeer {
	t.Helper()
	if len(cfg.Binds) == 0 {
		cfg.Binds = []string{"127.0.0.1:0"}
	}
	n, errs := goldenStart(t, cfg)
	p := &goldenPeer{n: n, errs: errs, roles: map[string]string{}}

	echo := n.Port(func(c *node.Context, msg []any) error {
		if len(msg) == 0 {
			return errors.New("echo: no reply port")
		}
		c.Send(goldenStr(msg[0]), msg[1:]...)
		return nil
	})

	// call runs Call in a goroutine, as Perl's cal does not block its
	// port; the goroutines end with the test.
	callCtx, cancelCalls := context.WithCancel(context.Background())
	var calls sync.WaitGroup
	t.Cleanup(func() { cancelCalls(); calls.Wait() })

	tag := n.Port(nil)
	handlers := map[string]node.Callback{
		"ping": func(c *node.Context, a []any) error { // ping R a… → "pong", a… to R
			if err := goldenArity(a, 1); err != nil {
				return err
			}
			c.Send(goldenStr(a[0]), append([]any{"pong"}, a[1:]...)...)
			return nil
		},
		"die": func(c *node.Context, a []any) error { // die T → dies with "die", T
			if err := goldenArity(a, 1); err != nil {
				return err
			}
			return errors.New(goldenStr(a[0]))
		},
		"send": func(c *node.Context, a []any) error { // send P m… → m… to P
			if err := goldenArity(a, 1); err != nil {
				return err
			}
			c.Send(goldenStr(a[0]), a[1:]...)
			return nil
		},
		"kill": func(c *node.Context, a []any) error { // kill P r… → kills P with r…
			if err := goldenArity(a, 1); err != nil {
				return err
			}
			c.Node().Kill(goldenStr(a[0]), a[1:]...)
			return nil
		},
		"watch": func(c *node.Context, a []any) error { // watch P R → "watched", P, reason… to R when P dies
			if err := goldenArity(a, 2); err != nil {
				return err
			}
			c.Monitor(goldenStr(a[0]), node.SendTo(goldenStr(a[1]), "watched", goldenStr(a[0])))
			return nil
		},
		"call": func(c *node.Context, a []any) error { // call R P m… → "called", reply… to R
			if err := goldenArity(a, 2); err != nil {
				return err
			}
			r, target, msg := goldenStr(a[0]), goldenStr(a[1]), slices.Clone(a[2:])
			calls.Go(func() {
				reply, err := n.Call(callCtx, target, msg...)
				if err != nil {
					reply = nil // Perl's cal calls back with nothing when the target dies
				}
				if callCtx.Err() == nil {
					n.Send(r, append([]any{"called"}, reply...)...)
				}
			})
			return nil
		},
		"spawn_on": func(c *node.Context, a []any) error { // spawn_on R N F a… → "spawning", new port to R
			if err := goldenArity(a, 3); err != nil {
				return err
			}
			id := c.Node().Spawn(goldenStr(a[1]), goldenStr(a[2]), a[3:]...)
			c.Send(goldenStr(a[0]), "spawning", id)
			return nil
		},
		"dbset": func(c *node.Context, a []any) error { // dbset F K V → sets K in F, owned by this node
			if err := goldenArity(a, 3); err != nil {
				return err
			}
			_, err := c.Node().DBSet(goldenStr(a[0]), goldenStr(a[1]), a[2])
			return err // the guard is dropped: the key stays until dbdel
		},
		"dbdel": func(c *node.Context, a []any) error { // dbdel F K → deletes K from F
			if err := goldenArity(a, 2); err != nil {
				return err
			}
			return c.Node().DBDel(goldenStr(a[0]), goldenStr(a[1]))
		},
	}
	for tg, h := range handlers {
		if err := n.Rcv(tag, tg, h); err != nil {
			t.Fatal(err)
		}
	}
	// Like Perl's, the names are a 9-character prefix and a counter that
	// starts at b, so a recorded name and its counterpart here have the same
	// length and the probe's recorded bytes can be replayed with the names
	// swapped.
	ports := []string{echo, tag, n.Port(nil), n.Port(nil), n.Port(nil)}
	_, first, _ := goldenSplit(ports[0])
	for i, id := range ports {
		_, name, _ := goldenSplit(id)
		counter := string(rune('b' + i))
		if len(first) != 10 || name != first[:9]+counter {
			t.Fatalf("port %d is %q: want the prefix of %q and the counter %s, as Perl names them", i, id, ports[0], counter)
		}
		p.roles[counter] = name
	}

	for _, fn := range []string{"::interop_init", "InteropPeer::init"} {
		n.Register(fn, goldenInteropInit)
	}
	for _, r := range []struct{ family, port, value string }{
		{"interop_echo", echo, "echo"},
		{"interop_tag", tag, "tag"},
	} {
		if _, err := n.DBReg(r.family, r.port, r.value); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// port returns the ID of the peer's port for a recorded Perl port's role
// (its counter: b echo, c tag, d–f victim1..3).
func (p *goldenPeer) port(counter string) string { return p.n.ID() + "#" + p.roles[counter] }

// goldenGlobal starts a tether node set up like the Perl seeds of the
// recordings: listening on 127.0.0.1, with its own address first among its
// seeds (then more), so that it finds itself there and is a global node.
// It returns once the node is global, and its address.
//
// The node's listener is opened before the node starts (the node gets it
// through its Transport) so that its address can be among its seeds.
func goldenGlobal(t *testing.T, cfg node.Config, more ...string) (*node.Node, string) {
	t.Helper()
	ln := goldenListen(t)
	a := ln.Addr().String()
	cfg.Binds = []string{a}
	cfg.Seeds = append([]string{a}, more...)
	cfg.Transport = goldenTransport{ln: ln}
	n, _ := goldenStart(t, cfg)
	goldenWaitFamily(t, n, "'g", goldenHas(n.ID()))
	return n, a
}

// goldenWaitFamily waits until family, as n's registry monitor reports it,
// satisfies ok.
func goldenWaitFamily(t *testing.T, n *node.Node, family string, ok func(map[string]any) bool) {
	t.Helper()
	ch := make(chan map[string]any, 64)
	g, err := n.DBMon(family, func(c node.DBChange) { ch <- maps.Clone(c.Entries) })
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	timeout := clock.Real().NewTimer(goldenPatience)
	defer timeout.Stop()
	var last map[string]any
	for {
		select {
		case m := <-ch:
			if ok(m) {
				return
			}
			last = m
		case <-timeout.Chan():
			t.Fatalf("%s: registry family %s did not become what the test waits for; last seen %s", n.ID(), family, goldenShow(last))
		}
	}
}

// goldenTransport is TCP, but listens on a listener opened beforehand for
// its address.
type goldenTransport struct{ ln net.Listener }

func (g goldenTransport) Listen(network, address string) (net.Listener, error) {
	if address == g.ln.Addr().String() {
		return g.ln, nil
	}
	return net.Listen(network, address)
}

func (goldenTransport) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// goldenInteropInit is the Perl peer's spawn init function: called with
// (R, extra…), it gives the new port the tags add, echo, quit and die, then
// sends "spawned", its ID, extra… to R if R was given.
func goldenInteropInit(c *node.Context, args []any) error {
	c.Rcv("add", func(c *node.Context, a []any) error { // add X Y R → X+Y to R
		if err := goldenArity(a, 3); err != nil {
			return err
		}
		sum, err := goldenAdd(a[0], a[1])
		if err != nil {
			return err
		}
		c.Send(goldenStr(a[2]), sum)
		return nil
	})
	c.Rcv("echo", func(c *node.Context, a []any) error { // echo R a… → a… to R
		if err := goldenArity(a, 1); err != nil {
			return err
		}
		c.Send(goldenStr(a[0]), a[1:]...)
		return nil
	})
	c.Rcv("quit", func(c *node.Context, a []any) error { // quit r… → kills itself with r…
		c.Kill(a...)
		return nil
	})
	c.Rcv("die", func(c *node.Context, a []any) error { // die T → dies with "die", T
		if err := goldenArity(a, 1); err != nil {
			return err
		}
		return errors.New(goldenStr(a[0]))
	})
	if len(args) > 0 {
		c.Send(goldenStr(args[0]), append([]any{"spawned", c.Self()}, args[1:]...)...)
	}
	return nil
}

// names maps a recorded run's Perl port names (prefix + counter) to this
// node's ports, plus the names the tether node will pick (bind).
func (p *goldenPeer) names(perlPrefix string, bind map[string]*regexp.Regexp) *goldenNames {
	g := &goldenNames{fixed: map[string]string{}, bind: bind, guard: perlPrefix}
	if perlPrefix != "" {
		for counter, name := range p.roles {
			g.fixed[perlPrefix+counter] = name
		}
	}
	return g
}

// goldenProbeSeat is a tether node in the Go probe's seat: ports under the
// names the probe used, each reporting what it receives and how it died.
type goldenProbeSeat struct {
	n      *node.Node
	names  *goldenNames
	ids    map[string]string     // recorded name → port ID here
	got    map[string]chan []any // recorded name → messages received
	deaths map[string]chan []any // recorded name → death reason
	inits  chan goldenInitCall   // calls of the spawnable Go::Interop::init
}

type goldenInitCall struct {
	self string
	args []any
}

// goldenStartProbeSeat starts a tether node (normally "gonode") with ports
// for the probe's names. The port "svc" (15) answers "add X Y R" with X+Y
// to R, as the probe's did. The init function Go::Interop::init (15) is
// spawnable.
func goldenStartProbeSeat(t *testing.T, cfg node.Config, ports ...string) *goldenProbeSeat {
	t.Helper()
	n, _ := goldenStart(t, cfg)
	s := &goldenProbeSeat{
		n:      n,
		names:  &goldenNames{fixed: map[string]string{}},
		ids:    map[string]string{},
		got:    map[string]chan []any{},
		deaths: map[string]chan []any{},
		inits:  make(chan goldenInitCall, 16),
	}
	for _, name := range ports {
		got := make(chan []any, 64)
		id := n.Port(func(c *node.Context, msg []any) error { got <- msg; return nil })
		if name == "svc" {
			if err := n.Rcv(id, "add", func(c *node.Context, a []any) error {
				got <- append([]any{"add"}, a...) // reported like any message
				if err := goldenArity(a, 3); err != nil {
					return err
				}
				sum, err := goldenAdd(a[0], a[1])
				if err != nil {
					return err
				}
				c.Send(goldenStr(a[2]), sum)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		died := make(chan []any, 1)
		n.Monitor(id, node.Func(func(reason []any) { died <- reason }))
		_, bare, _ := goldenSplit(id)
		s.names.fixed[name] = bare
		s.ids[name], s.got[name], s.deaths[name] = id, got, died
	}
	n.Register("Go::Interop::init", func(c *node.Context, args []any) error {
		s.inits <- goldenInitCall{self: c.Self(), args: args}
		return nil
	})
	return s
}

func goldenArity(a []any, n int) error {
	if len(a) < n {
		return fmt.Errorf("want %d arguments, got %d", n, len(a))
	}
	return nil
}

// goldenStr returns a string argument (CBOR byte strings arrive as strings
// too).
func goldenStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

func goldenAdd(x, y any) (any, error) {
	switch a := x.(type) {
	case int64:
		if b, ok := y.(int64); ok {
			return a + b, nil
		}
	case float64:
		if b, ok := y.(float64); ok {
			return a + b, nil
		}
	}
	return nil, fmt.Errorf("cannot add %v and %v", x, y)
}
