package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// A host's Transport is a node.Transport.
var _ node.Transport = sim.Transport{}

// Three tether nodes on a simulated network: a call from one to another,
// a monitor that fires when its port's host crashes, and the restarted
// host, whose ports are new. Each node takes its host's Transport, Clock and
// Rand. In a test, run the same inside sim.Test (or sim.Run, for many
// seeds) for simulated time and a deterministic trace; an example has no
// *testing.T, so this one runs on the real clock.
func Example_nodes() {
	n := sim.New(sim.Config{Latency: sim.Latency{Min: time.Millisecond, Max: time.Millisecond}})
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var nodes []*node.Node
	defer func() {
		for _, nd := range nodes {
			nd.Close(ctx)
		}
	}()
	start := func(name string) *node.Node {
		h := n.Host(name) // the running incarnation of host name
		nd, err := node.Start(ctx, node.Config{
			ID:        name,
			Binds:     []string{name + ":4000"},
			Secret:    "example",
			Transport: h.Transport(),
			Clock:     h.Clock(),
			Rand:      h.Rand("node"),
			Hostname:  name,
		})
		if err != nil {
			panic(err)
		}
		nodes = append(nodes, nd)
		return nd
	}
	a, b, c := start("a"), start("b"), start("c")
	for _, addr := range []string{"b:4000", "c:4000"} {
		if _, err := a.AddNode(ctx, addr); err != nil {
			panic(err)
		}
	}

	// A call from a to an adder on b.
	adder := b.Port(func(ctx *node.Context, msg []any) error {
		ctx.Send(msg[2].(string), msg[0].(int64)+msg[1].(int64))
		return nil
	})
	sum, err := a.Call(ctx, adder, 2, 3)
	fmt.Println("2 + 3 =", sum[0], err)

	// A monitor on a port of c fires when c crashes.
	watched := c.Port(nil)
	fired := make(chan []any, 1)
	a.Monitor(watched, node.Func(func(reason []any) { fired <- reason }))
	n.Crash("c")
	fmt.Println("the monitor fired:", (<-fired)[0])

	// c restarts: a new incarnation, whose random streams, and so port
	// IDs, are new.
	c2 := start("c")
	fresh := c2.Port(nil)
	fmt.Println("restarted c:", n.Host("c").Incarnation(), fresh != watched)
	// Output:
	// 2 + 3 = 5 <nil>
	// the monitor fired: transport_error
	// restarted c: 1 true
}
