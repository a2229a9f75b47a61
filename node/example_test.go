package node_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// One node: a port that answers pings, called with Call, and a monitor
// that sees it die.
func Example() {
	ctx := context.Background()
	n, err := node.Start(ctx, node.Config{ID: "a"})
	if err != nil {
		panic(err)
	}
	defer n.Close(ctx)

	echo := n.Port(nil)
	n.Rcv(echo, "ping", func(c *node.Context, args []any) error {
		// Call puts its reply port last.
		c.Send(args[len(args)-1].(string), "pong", args[0])
		return nil
	})
	reply, err := n.Call(ctx, echo, "ping", "hello")
	fmt.Println(reply, err)

	died := make(chan string, 1)
	n.Monitor(echo, node.Func(func(reason []any) { died <- node.FormatReason(reason) }))
	n.Kill(echo, "enough")
	fmt.Println("died:", <-died)
	// Output:
	// [pong hello] <nil>
	// died: enough
}

// Two nodes over TCP: b offers an init function, a spawns it there and
// calls the new port.
func Example_twoNodes() {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 10*time.Second)
	defer cancel()
	cfg := node.Config{Binds: []string{"127.0.0.1:0"}, Secret: "shared secret"}
	cfg.ID = "a"
	a, err := node.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer a.Close(context.Background())
	cfg.ID = "b"
	b, err := node.Start(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer b.Close(context.Background())

	b.Register("doubler", func(c *node.Context, _ []any) error {
		c.SetDefault(func(c *node.Context, msg []any) error { // N REPLY
			c.Send(msg[1].(string), 2*msg[0].(int64))
			return nil
		})
		return nil
	})
	if _, err := a.AddNode(ctx, b.Addrs()...); err != nil {
		panic(err)
	}
	doubler := a.Spawn("b", "doubler")
	got, err := a.Call(ctx, doubler, 21)
	fmt.Println(node.NodeOf(doubler), got, err)
	// Output: b [42] <nil>
}
