// Command failover is an rpc client that rides out the crash of the
// replica it talks to, on loopback.
//
//	go run ./examples/failover
//
// Three replicas, a, b and c, serve the same method. The client is an
// rpc.Client whose resolver is an addr.List of the three: every connection
// attempt asks it for the next replica, so when the one in use crashes the
// client connects to the next, and the caller's next call goes there. The
// replicas crash one after another (a comes back in time to take over from
// c); every call is answered.
//
// A call under way when its connection dies fails with rpc.ErrClosed: rpc
// does not retry, since it cannot know whether the server ran the call.
// Greet is idempotent, so greet retries it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/rpc"
)

// Greet is the service's method, shared by the servers and the client:
// a name in, a greeting out.
var Greet = rpc.NewMethod[string, string]("greet", 1)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// replica is one server of the service, on a fixed address.
type replica struct {
	name, addr string
	srv        *rpc.Server
	done       chan struct{}
}

// start starts the replica on its address ("127.0.0.1:0" the first time).
func (r *replica) start() error {
	var hs rpc.Handlers
	Greet.Implement(&hs, func(ctx context.Context, name string) (string, error) {
		return fmt.Sprintf("hello %s, from %s", name, r.name), nil
	})
	srv, err := rpc.NewServer(rpc.Config{Handlers: &hs, Identification: "replica " + r.name})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		return err
	}
	r.addr, r.srv, r.done = l.Addr().String(), srv, make(chan struct{})
	go func() { srv.Serve(l); close(r.done) }()
	return nil
}

// crash stops the replica at once, as a crash would: no grace for the
// calls under way.
func (r *replica) crash() {
	if r.srv == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.srv.Close(ctx)
	<-r.done
	r.srv = nil
}

// greet calls Greet on the client's current connection, and again on the
// next one if that connection died under the call.
func greet(ctx context.Context, c *rpc.Client, name string) (string, error) {
	for {
		conn, err := c.Conn(ctx) // the current connection, or the next one
		if err != nil {
			return "", err
		}
		resp, err := Greet.Call(ctx, conn, name)
		if errors.Is(err, rpc.ErrClosed) && ctx.Err() == nil {
			<-conn.Done() // closed, or closing: the client will connect again
			continue
		}
		return resp, err
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := clock.WithTimeout(ctx, clock.Real(), 30*time.Second)
	defer cancel()
	replicas := map[string]*replica{}
	var addrs []string
	for _, name := range []string{"a", "b", "c"} {
		r := &replica{name: name, addr: "127.0.0.1:0"}
		if err := r.start(); err != nil {
			return err
		}
		defer r.crash()
		replicas[name] = r
		addrs = append(addrs, r.addr)
	}
	fmt.Fprintln(out, "replicas a, b and c are up; the client tries them in turn")

	client, err := rpc.NewClient(rpc.ClientConfig{
		ServerName: "greeter",
		Resolver:   addr.NewList(addrs...),
		RetryDelay: persistent.Constant(100 * time.Millisecond), // the default is 10 s
	})
	if err != nil {
		return err
	}
	defer client.Close(context.Background())

	calls := 0
	callTwice := func() error {
		for range 2 {
			calls++
			resp, err := greet(ctx, client, fmt.Sprint("caller ", calls))
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "call %d: %s\n", calls, resp)
		}
		return nil
	}
	if err := callTwice(); err != nil {
		return err
	}
	for _, step := range []struct {
		say  string
		down string
		up   string
	}{
		{"a crashes", "a", ""},
		{"b crashes", "b", ""},
		{"a is back; c crashes", "c", "a"},
	} {
		if step.up != "" {
			if err := replicas[step.up].start(); err != nil {
				return err
			}
		}
		replicas[step.down].crash()
		fmt.Fprintln(out, step.say)
		if err := callTwice(); err != nil {
			return err
		}
	}
	return nil
}
