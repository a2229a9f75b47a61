package sim_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tetherkit/tether/test/sim"
)

// An echo over the simulated network. Examples cannot run in a synctest
// bubble, so this one uses the real clock with no delay; in a test, use
// sim.Test for fake time and a deterministic trace.
func Example() {
	n := sim.New(sim.Config{})
	defer n.Close()

	l, err := n.Host("server").Listen(":7")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := n.Host("client").Dial(ctx, "server:7")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Fprint(c, "hello")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		panic(err)
	}
	fmt.Println(c.LocalAddr(), "->", c.RemoteAddr(), string(buf))
	// Output: client:49152 -> server:7 hello
}
