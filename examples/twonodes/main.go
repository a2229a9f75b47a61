// Command twonodes runs two tether nodes that talk over TCP on loopback,
// the way two programs on two machines would.
//
//	go run ./examples/twonodes
//
// The "store" node registers an init function, "kv", that other nodes may
// spawn: a key-value port. The "app" node links to it, spawns a kv port
// there, stores and reads keys with Call, and starts a process that
// monitors the kv port and waits for its end. Then the store node shuts
// down: its ports die a normal death, and the process sees the kv port end
// ("normal") before the link goes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// secret authenticates the nodes to each other (HMAC-SHA3-512).
const secret = "example secret"

// kv is the init function of a key-value port: it installs the port's
// handlers. Handlers get the message without its tag; Call adds its reply
// port at the end.
func kv(c *node.Context, _ []any) error {
	data := map[string]any{}
	c.Rcv("put", func(c *node.Context, msg []any) error { // put KEY VALUE REPLY
		key, ok := msg[0].(string)
		if !ok || len(msg) != 3 {
			return fmt.Errorf("bad put %v", msg) // an error kills the port ("die")
		}
		data[key] = msg[1]
		c.Send(msg[2].(string), "ok")
		return nil
	})
	c.Rcv("get", func(c *node.Context, msg []any) error { // get KEY REPLY
		v, found := data[msg[0].(string)]
		c.Send(msg[1].(string), v, found)
		return nil
	})
	return nil
}

func run(ctx context.Context, out io.Writer) (err error) {
	ctx, cancel := clock.WithTimeout(ctx, clock.Real(), 10*time.Second)
	defer cancel()

	// The store: listens, and lets other nodes spawn "kv".
	store, err := node.Start(ctx, node.Config{ID: "store", Binds: []string{"127.0.0.1:0"}, Secret: secret})
	if err != nil {
		return err
	}
	storeUp := true
	defer func() {
		if storeUp {
			err = errors.Join(err, store.Close(context.Background()))
		}
	}()
	store.Register("kv", kv)

	// The app: connects out only.
	app, err := node.Start(ctx, node.Config{ID: "app", Secret: secret})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, app.Close(context.Background())) }()

	peer, err := app.AddNode(ctx, store.Addrs()...)
	if err != nil {
		return fmt.Errorf("linking to the store: %w", err)
	}
	fmt.Fprintf(out, "app: linked to node %q\n", peer)

	port := app.Spawn(peer, "kv") // returns at once; the port starts on the store node
	fmt.Fprintf(out, "app: spawned %s\n", port)
	for _, pair := range [][2]any{{"colour", "teal"}, {"answer", int64(42)}} {
		if _, err := app.Call(ctx, port, "put", pair[0], pair[1]); err != nil {
			return err
		}
	}
	got, err := app.Call(ctx, port, "get", "answer")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "app: get answer = %v (found: %v)\n", got[0], got[1])

	// A process: a goroutine with a mailbox, for code that blocks. It
	// monitors the kv port and waits for its end with selective receive.
	watching, ended := make(chan struct{}), make(chan string, 1)
	app.Go(func(p *node.Process) error {
		p.Monitor(port)
		close(watching)
		return p.Receive(ctx, node.Terminated(func(t node.Termination) error {
			ended <- fmt.Sprintf("%s ended: %s", t.Port, node.FormatReason(t.Reason))
			return nil
		}))
	})
	<-watching
	// A round trip on the same link: the store has taken in the monitor
	// request (mon1) by the time it answers, so it will tell of the kv
	// port's death, and the app sees it end normally rather than with the
	// link.
	if _, err := app.Call(ctx, port, "get", "answer"); err != nil {
		return err
	}

	fmt.Fprintln(out, "store: shutting down")
	storeUp = false
	if err := store.Close(ctx); err != nil {
		return err
	}
	select {
	case s := <-ended:
		fmt.Fprintln(out, "app: "+s)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the monitor did not fire: %w", ctx.Err())
	}
}
