// Command netrpc measures the standard library's net/rpc (gob codec) over
// loopback TCP, for bench/run.sh.
//
//	netrpc -mode server -addr 127.0.0.1:17002
//	netrpc -mode client -addr 127.0.0.1:17002 -dur 3s
//
// Request and response are the same Go struct (server echoes it):
//
//	type Msg struct { Payload []byte /* 16 bytes */; N int64 }
//
// Method "Echo.Echo". Workloads: unary_c1, unary_c64 (64 goroutines sharing
// one *rpc.Client = one TCP connection), stream (net/rpc has no streaming: a
// single goroutine pipelines client.Go calls on the one connection, at most
// -window outstanding, another goroutine collects the replies).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/rpc"
	"strings"
	"time"

	"github.com/tetherkit/tether/bench/peers/internal/measure"
)

var (
	mode   = flag.String("mode", "client", "server|client")
	addr   = flag.String("addr", "127.0.0.1:17002", "listen/dial address (loopback only)")
	dur    = flag.Duration("dur", 3*time.Second, "measured duration per workload")
	warm   = flag.Duration("warm", 500*time.Millisecond, "warm-up before measuring")
	conc   = flag.Int("conc", 64, "goroutines for unary_cN")
	window = flag.Int("window", 1024, "max outstanding requests in the stream workload")
	works  = flag.String("workloads", "unary_c1,unary_cN,stream", "comma-separated workloads")
)

const peer = "netrpc"

type Msg struct {
	Payload []byte
	N       int64
}

type Echo struct{}

func (Echo) Echo(args *Msg, reply *Msg) error {
	reply.Payload = args.Payload
	reply.N = args.N
	return nil
}

func main() {
	flag.Parse()
	switch *mode {
	case "server":
		if err := rpc.RegisterName("Echo", Echo{}); err != nil {
			log.Fatal(err)
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		rpc.Accept(ln)
	case "client":
		for _, w := range strings.Split(*works, ",") {
			if err := runWorkload(w); err != nil {
				measure.Fail(peer, "rpc", wname(w), err)
			}
		}
	default:
		log.Fatalf("bad -mode %q", *mode)
	}
}

func wname(w string) string {
	if w == "unary_cN" {
		return fmt.Sprintf("unary_c%d", *conc)
	}
	return w
}

func dial() (*rpc.Client, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := rpc.Dial("tcp", *addr)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func payload() []byte {
	p := make([]byte, 16)
	for i := range p {
		p[i] = byte('a' + i)
	}
	return p
}

func runWorkload(w string) error {
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	switch w {
	case "unary_c1", "unary_cN":
		g := 1
		if w == "unary_cN" {
			g = *conc
		}
		mk := func() func(int64) error {
			req := &Msg{Payload: payload()}
			rep := &Msg{}
			return func(n int64) error {
				req.N = n
				if err := c.Call("Echo.Echo", req, rep); err != nil {
					return err
				}
				if rep.N != n || !bytes.Equal(rep.Payload, req.Payload) {
					return fmt.Errorf("bad echo")
				}
				return nil
			}
		}
		ops, el, p50, p99, err := measure.RunUnary(g, *warm, *dur, mk)
		if err != nil {
			return err
		}
		measure.Result{Peer: peer, Suite: "rpc", Workload: wname(w), Ops: ops, Elapsed: el, P50: p50, P99: p99,
			Extra: []string{fmt.Sprintf("conc=%d conns=1", g)}}.Print()
	case "stream":
		done := make(chan *rpc.Call, *window+1)
		p := payload()
		s := measure.Stream{
			Send: func(n int64) error {
				c.Go("Echo.Echo", &Msg{Payload: p, N: n}, &Msg{}, done)
				return nil
			},
			Recv: func() error {
				call := <-done
				if call.Error != nil {
					return call.Error
				}
				if call.Reply.(*Msg).N != call.Args.(*Msg).N {
					return fmt.Errorf("bad echo")
				}
				return nil
			},
		}
		ops, el, err := measure.RunStream(*window, *warm, *dur, s)
		if err != nil {
			return err
		}
		measure.Result{Peer: peer, Suite: "rpc", Workload: "stream", Ops: ops, Elapsed: el, P50: -1,
			Extra: []string{fmt.Sprintf("window=%d conns=1 kind=pipelined_client_go", *window)}}.Print()
	default:
		return fmt.Errorf("unknown workload")
	}
	return nil
}
