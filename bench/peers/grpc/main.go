// Command grpc measures grpc-go over loopback TCP (plaintext HTTP/2, default
// options), for bench/run.sh.
//
//	grpc -mode server -addr 127.0.0.1:17001
//	grpc -mode client -addr 127.0.0.1:17001 -dur 3s
//
// Messages (echo.proto): message EchoMsg { bytes payload = 1; int64 n = 2; }
// payload is 16 bytes; the server echoes the message.
//
// Workloads: unary_c1, unary_c64 (64 goroutines on one grpc.ClientConn = one
// HTTP/2 connection), stream (one bidi stream: a sender goroutine keeps at most
// -window messages outstanding, a receiver goroutine counts echoes).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tetherkit/tether/bench/peers/grpc/echopb"
	"github.com/tetherkit/tether/bench/peers/internal/measure"
)

var (
	mode   = flag.String("mode", "client", "server|client")
	addr   = flag.String("addr", "127.0.0.1:17001", "listen/dial address (loopback only)")
	dur    = flag.Duration("dur", 3*time.Second, "measured duration per workload")
	warm   = flag.Duration("warm", 500*time.Millisecond, "warm-up before measuring")
	conc   = flag.Int("conc", 64, "goroutines for unary_cN")
	window = flag.Int("window", 1024, "max outstanding messages in the stream workload")
	works  = flag.String("workloads", "unary_c1,unary_cN,stream", "comma-separated workloads")
)

const peer = "grpc"

type server struct {
	echopb.UnimplementedEchoServer
}

func (server) Unary(_ context.Context, in *echopb.EchoMsg) (*echopb.EchoMsg, error) {
	return &echopb.EchoMsg{Payload: in.Payload, N: in.N}, nil
}

func (server) Stream(st echopb.Echo_StreamServer) error {
	for {
		in, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(&echopb.EchoMsg{Payload: in.Payload, N: in.N}); err != nil {
			return err
		}
	}
}

func main() {
	flag.Parse()
	switch *mode {
	case "server":
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		s := grpc.NewServer()
		echopb.RegisterEchoServer(s, server{})
		log.Fatal(s.Serve(ln))
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

func payload() []byte {
	p := make([]byte, 16)
	for i := range p {
		p[i] = byte('a' + i)
	}
	return p
}

func waitPort() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", *addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runWorkload(w string) error {
	if err := waitPort(); err != nil {
		return err
	}
	cc, err := grpc.NewClient("passthrough:///"+*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	cli := echopb.NewEchoClient(cc)
	ctx := context.Background()
	switch w {
	case "unary_c1", "unary_cN":
		g := 1
		if w == "unary_cN" {
			g = *conc
		}
		mk := func() func(int64) error {
			req := &echopb.EchoMsg{Payload: payload()}
			return func(n int64) error {
				req.N = n
				rep, err := cli.Unary(ctx, req)
				if err != nil {
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
		st, err := cli.Stream(ctx)
		if err != nil {
			return err
		}
		req := &echopb.EchoMsg{Payload: payload()}
		rep := &echopb.EchoMsg{}
		s := measure.Stream{
			Send: func(n int64) error {
				req.N = n
				return st.Send(req)
			},
			Recv: func() error {
				return st.RecvMsg(rep)
			},
		}
		ops, el, err := measure.RunStream(*window, *warm, *dur, s)
		if err != nil {
			return err
		}
		st.CloseSend()
		if _, err := st.Recv(); err != io.EOF {
			return fmt.Errorf("stream close: %v", err)
		}
		measure.Result{Peer: peer, Suite: "rpc", Workload: "stream", Ops: ops, Elapsed: el, P50: -1,
			Extra: []string{fmt.Sprintf("window=%d conns=1 kind=bidi_stream", *window)}}.Print()
	default:
		return fmt.Errorf("unknown workload")
	}
	return nil
}
