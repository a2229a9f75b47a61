package persistent_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/persistent"
)

// A persistent connection to a TCP echo server.
func Example() {
	// A server to stay connected to: it echoes what it reads.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()

	pc, err := persistent.New(persistent.Config[string, *persistent.NetConn]{
		ServerName: "echo",
		Resolver:   addr.Static(ln.Addr().String()), // or addr.NewList(...), &addr.SRV{...}
		Connect: func(ctx context.Context, a string) (*persistent.NetConn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, err
			}
			return persistent.NewNetConn(c), nil
		},
		OnEvent: func(e persistent.Event[string, *persistent.NetConn]) {
			fmt.Println(e.Kind)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	// Connected waits for a connection; after a crash it is the next one.
	// (It returns as soon as the connection is usable, which may be before
	// OnEvent has printed "connected": events and queries are not ordered
	// with each other.)
	c, err := pc.Connected(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(c, "hello")
	reply, _ := bufio.NewReader(c).ReadString('\n')

	// Close returns once every event has been handled.
	pc.Close(context.Background())
	fmt.Print("echoed: ", reply)
	// Output:
	// attempting to connect
	// obtained address
	// connected
	// disconnected
	// echoed: hello
}
