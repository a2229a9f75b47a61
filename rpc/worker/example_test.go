package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"

	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/rpc/worker"
)

var greet = rpc.NewMethod[string, string]("greet", 1)

func init() {
	// Functions a child can run. The program's main (here, TestMain) calls
	// worker.Main first thing, so that a child runs its function and exits.
	worker.Register("upper", func(ctx context.Context, p *worker.Pipe) error {
		for {
			msg, err := p.ReadMessage()
			if err == io.EOF {
				return nil // the parent closed its end
			}
			if err != nil {
				return err
			}
			if err := p.WriteMessage(bytes.ToUpper(msg)); err != nil {
				return err
			}
		}
	})
	worker.Register("greeter", func(ctx context.Context, p *worker.Pipe) error {
		hs := new(rpc.Handlers)
		greet.Implement(hs, func(ctx context.Context, name string) (string, error) {
			return "hello, " + name, nil
		})
		return worker.Serve(ctx, p, rpc.Config{Handlers: hs})
	})
}

// Raw messages to a function run in a child process.
func Example() {
	ctx := context.Background()
	w, err := worker.Start(ctx, worker.Config{Func: "upper"})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	if err := w.WriteMessage([]byte("hello")); err != nil {
		log.Fatal(err)
	}
	reply, err := w.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply))
	// Output: HELLO
}

// rpc over a worker's pipes. The connection owns the worker: closing it
// stops the child.
func Example_rpc() {
	ctx := context.Background()
	w, err := worker.Start(ctx, worker.Config{Func: "greeter"})
	if err != nil {
		log.Fatal(err)
	}
	conn, err := rpc.NewConn(ctx, w, rpc.Config{})
	if err != nil {
		log.Fatal(err) // the error says how the child exited, if it did
	}
	defer conn.Close()

	s, err := greet.Call(ctx, conn, "gopher")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s)
	// Output: hello, gopher
}

// A client that keeps a worker running: if the child crashes, another is
// started after the retry delay.
func ExampleNewClient() {
	ctx := context.Background()
	events := make(chan event.Kind, 16)
	c, err := worker.NewClient(worker.Config{Func: "greeter"}, rpc.ClientConfig{
		OnEvent: func(e persistent.Event[string, *rpc.Conn]) { events <- e.Kind },
	})
	if err != nil {
		log.Fatal(err)
	}
	for k := range events {
		fmt.Println(k)
		if k == event.Connected {
			break
		}
	}

	s, err := greet.Call(ctx, c, "gopher") // waits for a child if there is none
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s)

	c.Close(ctx) // stops the child
	fmt.Println(<-events)
	// Output:
	// attempting to connect
	// obtained address
	// connected
	// hello, gopher
	// disconnected
}
