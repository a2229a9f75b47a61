// Command chat is AnyEvent::MP's classic example on tether: a chat server
// whose port is in the registry, and clients that find it there, join,
// say things to everyone, and are removed when they die.
//
//	go run ./examples/chat                # the whole story, on loopback
//
// The server is a port with two handlers, join and say, registered in the
// registry family "chat" (DBReg). It keeps its members in a map that only
// its handlers touch — a port's callbacks run one at a time — and monitors
// each member's port: when a member's node dies, the monitor sends the
// server a "left" message. A client watches the family until a server
// appears, then sends it its own port and nick.
//
// With a network of your own (say, the one of tether's README), run the
// server and the clients as separate programs on this machine (their
// nodes listen on 127.0.0.1); a client says the lines of its standard
// input:
//
//	go run ./examples/chat -seed 127.0.0.1:4040 -secret s3cr3t server
//	go run ./examples/chat -seed 127.0.0.1:4040 -secret s3cr3t alice
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// family is where the server is found.
const family = "chat"

// The messages: client → server ["join", CLIENT-PORT, NICK] and ["say",
// CLIENT-PORT, TEXT]; server → client ["info", TEXT] and ["msg", NICK,
// TEXT]; from the monitor of a member, server → server ["left",
// CLIENT-PORT, REASON…].

// server starts the chat server on n and registers it; it returns its
// port.
func server(n *node.Node) (string, error) {
	members := map[string]string{} // client port → nick; only the handlers touch it
	srv := n.Port(nil)
	broadcast := func(c *node.Context, msg ...any) {
		for _, p := range slices.Sorted(func(yield func(string) bool) {
			for p := range members {
				if !yield(p) {
					return
				}
			}
		}) {
			c.Send(p, msg...)
		}
	}
	n.Rcv(srv, "join", func(c *node.Context, m []any) error {
		client, nick, ok := twoStrings(m)
		if !ok || members[client] != "" {
			return nil // not a join we can serve
		}
		members[client] = nick
		c.Monitor(client, node.SendTo(c.Self(), "left", client))
		broadcast(c, "info", nick+" joined")
		return nil
	})
	n.Rcv(srv, "say", func(c *node.Context, m []any) error {
		client, text, ok := twoStrings(m)
		if nick := members[client]; ok && nick != "" {
			broadcast(c, "msg", nick, text)
		}
		return nil
	})
	n.Rcv(srv, "left", func(c *node.Context, m []any) error {
		client, _ := m[0].(string)
		if nick, ok := members[client]; ok {
			delete(members, client)
			broadcast(c, "info", nick+" left")
		}
		return nil
	})
	if _, err := n.DBReg(family, srv, nil); err != nil {
		return "", err
	}
	return srv, nil
}

func twoStrings(m []any) (string, string, bool) {
	if len(m) < 2 {
		return "", "", false
	}
	a, ok1 := m[0].(string)
	b, ok2 := m[1].(string)
	return a, b, ok1 && ok2
}

// client is a member of the chat.
type client struct {
	n                  *node.Node
	port, server, nick string
}

// join waits (within ctx) until a server is in the registry, and joins it
// as nick. show gets every line the server sends, in order, on the
// client's port's executor.
func join(ctx context.Context, n *node.Node, nick string, show func(line string)) (*client, error) {
	found := make(chan string, 1)
	g, err := n.DBMon(family, func(c node.DBChange) {
		if len(c.Entries) > 0 {
			select {
			case found <- slices.Sorted(func(yield func(string) bool) {
				for k := range c.Entries {
					if !yield(k) {
						return
					}
				}
			})[0]:
			default:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	defer g.Stop()
	cl := &client{n: n, nick: nick}
	select {
	case cl.server = <-found:
	case <-ctx.Done():
		return nil, fmt.Errorf("no chat server in the registry: %w", ctx.Err())
	}
	cl.port = n.Port(func(_ *node.Context, m []any) error {
		switch {
		case len(m) == 2 && m[0] == "info":
			show(fmt.Sprintf("* %v", m[1]))
		case len(m) == 3 && m[0] == "msg":
			show(fmt.Sprintf("<%v> %v", m[1], m[2]))
		}
		return nil
	})
	n.Send(cl.server, "join", cl.port, nick)
	return cl, nil
}

func (cl *client) say(text string) { cl.n.Send(cl.server, "say", cl.port, text) }

func main() {
	seed := flag.String("seed", "", "the address of a seed of your network (host:port); none: the story on loopback")
	secret := flag.String("secret", "", "the network's secret")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: chat\n       chat -seed HOST:PORT -secret SECRET server|NICK\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch {
	case *seed == "" && flag.NArg() == 0:
		err = run(ctx, os.Stdout)
	case *seed != "" && flag.NArg() == 1:
		err = live(ctx, *seed, *secret, flag.Arg(0))
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// live runs the server, or a client that says the lines of its standard
// input, on a network of your own, until Ctrl-C.
func live(ctx context.Context, seed, secret, role string) error {
	n, err := node.Start(ctx, node.Config{ID: "chat/", Binds: []string{"127.0.0.1:0"}, Seeds: []string{seed}, Secret: secret})
	if err != nil {
		return err
	}
	defer n.Close(context.Background())
	if role == "server" {
		srv, err := server(n)
		if err != nil {
			return err
		}
		fmt.Printf("chat server %s, in the registry family %q; Ctrl-C ends it\n", srv, family)
		<-ctx.Done()
		return nil
	}
	cl, err := join(ctx, n, role, func(line string) { fmt.Println(line) })
	if err != nil {
		return err
	}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		cl.say(lines.Text())
	}
	return lines.Err()
}

// run tells the story on loopback, as alice sees it: a seed, a server
// node, and three client nodes; bob's node dies in the middle.
func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := clock.WithTimeout(ctx, clock.Real(), 30*time.Second)
	defer cancel()
	const secret = "example secret"
	var nodes []*node.Node
	defer func() {
		for _, n := range slices.Backward(nodes) {
			n.Close(context.Background())
		}
	}()
	start := func(id string, seeds ...string) (*node.Node, error) {
		n, err := node.Start(ctx, node.Config{ID: id, Binds: []string{"127.0.0.1:0"}, Seeds: seeds, Secret: secret})
		if err == nil {
			nodes = append(nodes, n)
		}
		return n, err
	}
	seed, err := start("seed")
	if err != nil {
		return err
	}
	srvNode, err := start("server", seed.Addrs()[0])
	if err != nil {
		return err
	}
	if _, err := server(srvNode); err != nil {
		return err
	}

	screen := make(chan string, 100) // alice's
	clients := map[string]*client{}
	for _, nick := range []string{"alice", "bob", "carol"} {
		n, err := start(nick, seed.Addrs()[0])
		if err != nil {
			return err
		}
		show := func(string) {}
		if nick == "alice" {
			show = func(line string) { screen <- line }
		}
		if clients[nick], err = join(ctx, n, nick, show); err != nil {
			return err
		}
		// What alice sees next is this join: one step at a time.
		if err := see(ctx, out, screen, 1); err != nil {
			return err
		}
	}
	clients["alice"].say("hello")
	if err := see(ctx, out, screen, 1); err != nil {
		return err
	}
	clients["bob"].say("hi alice")
	if err := see(ctx, out, screen, 1); err != nil {
		return err
	}
	fmt.Fprintln(out, "(bob's node dies)")
	clients["bob"].n.Close(ctx)
	if err := see(ctx, out, screen, 1); err != nil {
		return err
	}
	clients["carol"].say("bye, bob")
	return see(ctx, out, screen, 1)
}

// see prints the next k lines of alice's screen.
func see(ctx context.Context, out io.Writer, screen <-chan string, k int) error {
	for range k {
		select {
		case line := <-screen:
			fmt.Fprintln(out, "alice sees: "+line)
		case <-ctx.Done():
			return fmt.Errorf("alice saw nothing more: %w", ctx.Err())
		}
	}
	return nil
}
