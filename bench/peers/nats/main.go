// Command nats measures NATS through a local nats-server (bench/run.sh starts
// it on 127.0.0.1), with the Go client github.com/nats-io/nats.go. Three OS
// processes: nats-server, this program as -mode server (node B:
// responder/sink) and as -mode client (node A: requester/publisher).
// Every message goes A -> nats-server -> B.
//
// Wire shapes (NATS payloads are raw bytes, so the shapes are fixed binary):
//
//	RPC request == RPC response (24 bytes), subject "bench.echo":
//	    [0:16]  payload (16 bytes)
//	    [16:24] n, int64 big-endian
//	Node message (30 bytes for tag "bench"), subjects "bench.msg" / "bench.ping":
//	    [0]     tag length L (1 byte)
//	    [1:1+L] tag (ASCII: "bench", "ping", "pong", "done")
//	    next 8  n, int64 big-endian
//	    next 16 payload
//
// B decodes every message into a Go struct and (where it replies) re-encodes.
//
// Workloads (client): rpc suite unary_c1, unary_c64 (64 goroutines sharing one
// *nats.Conn, nc.Request), stream (one goroutine PublishRequest-s with a fixed
// reply inbox, at most -window outstanding; a ChanSubscribe collects replies);
// msg suite oneway (publish "bench.msg" back-to-back for -dur, then a "done"
// request carrying n = messages sent; B replies with the count and the
// first->last-message time once it has counted n) and pingpong
// (PublishRequest "bench.ping" with a fixed inbox, B responds "pong", one
// outstanding, RTT p50/p99).
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tetherkit/tether/bench/peers/internal/measure"
)

var (
	mode   = flag.String("mode", "client", "server|client")
	url    = flag.String("url", "nats://127.0.0.1:17222", "nats-server URL (loopback only)")
	dur    = flag.Duration("dur", 3*time.Second, "measured duration per workload")
	warm   = flag.Duration("warm", 500*time.Millisecond, "warm-up before measuring")
	conc   = flag.Int("conc", 64, "goroutines for unary_cN")
	window = flag.Int("window", 1024, "max outstanding requests in the stream workload")
	works  = flag.String("workloads", "unary_c1,unary_cN,stream,oneway,pingpong", "comma-separated workloads")
)

const peer = "nats"

// ---- shapes ----

type Req struct {
	Payload [16]byte
	N       int64
}

func (r *Req) Encode(b []byte) []byte {
	b = append(b[:0], r.Payload[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(r.N))
}

func (r *Req) Decode(b []byte) error {
	if len(b) != 24 {
		return fmt.Errorf("bad req len %d", len(b))
	}
	copy(r.Payload[:], b[:16])
	r.N = int64(binary.BigEndian.Uint64(b[16:]))
	return nil
}

type NodeMsg struct {
	Tag     string
	N       int64
	Payload [16]byte
}

func (m *NodeMsg) Encode(b []byte) []byte {
	b = append(b[:0], byte(len(m.Tag)))
	b = append(b, m.Tag...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.N))
	return append(b, m.Payload[:]...)
}

func (m *NodeMsg) Decode(b []byte) error {
	if len(b) < 1 {
		return errors.New("short msg")
	}
	l := int(b[0])
	if len(b) != 1+l+8+16 {
		return fmt.Errorf("bad msg len %d", len(b))
	}
	m.Tag = string(b[1 : 1+l])
	m.N = int64(binary.BigEndian.Uint64(b[1+l:]))
	copy(m.Payload[:], b[1+l+8:])
	return nil
}

func payload() (p [16]byte) {
	for i := range p {
		p[i] = byte('a' + i)
	}
	return
}

// ---- main ----

func main() {
	flag.Parse()
	switch *mode {
	case "server":
		server()
	case "client":
		for _, w := range strings.Split(*works, ",") {
			if err := runWorkload(w); err != nil {
				suite := "rpc"
				if w == "oneway" || w == "pingpong" {
					suite = "msg"
				}
				measure.Fail(peer, suite, wname(w), err)
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

func connect(name string) (*nats.Conn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(*url, nats.Name(name),
			nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
				log.Printf("nats async error (%s): %v", name, err)
			}))
		if err == nil {
			return nc, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func server() {
	nc, err := connect("peerbench-B")
	if err != nil {
		log.Fatal(err)
	}
	// RPC echo: decode, re-encode, respond.
	echo, err := nc.Subscribe("bench.echo", func(m *nats.Msg) {
		var r Req
		if err := r.Decode(m.Data); err != nil {
			log.Print(err)
			return
		}
		m.Respond(r.Encode(make([]byte, 0, 24)))
	})
	must(err)
	// One-way sink: count "bench" messages; "done" (n = messages sent) gets
	// count + first->last elapsed once all n were counted (or at once if n=0).
	var count, want int64
	var first time.Time
	var pending string // reply subject of a "done" still waiting for messages
	result := func(reply string) {
		var el time.Duration
		if count > 0 {
			el = time.Since(first)
		}
		out := binary.BigEndian.AppendUint64(nil, uint64(count))
		out = binary.BigEndian.AppendUint64(out, uint64(el))
		nc.Publish(reply, out)
		count, pending = 0, ""
	}
	sink, err := nc.Subscribe("bench.msg", func(m *nats.Msg) {
		var nm NodeMsg
		if err := nm.Decode(m.Data); err != nil {
			log.Print(err)
			return
		}
		switch nm.Tag {
		case "bench":
			if count == 0 {
				first = time.Now()
			}
			count++
			if pending != "" && count >= want {
				result(pending)
			}
		case "done":
			if count >= nm.N {
				result(m.Reply)
			} else {
				pending, want = m.Reply, nm.N
			}
		}
	})
	must(err)
	// Ping-pong: reply "pong" with the same n and payload.
	ping, err := nc.Subscribe("bench.ping", func(m *nats.Msg) {
		var nm NodeMsg
		if err := nm.Decode(m.Data); err != nil {
			log.Print(err)
			return
		}
		nm.Tag = "pong"
		m.Respond(nm.Encode(make([]byte, 0, 32)))
	})
	must(err)
	for _, s := range []*nats.Subscription{echo, sink, ping} {
		must(s.SetPendingLimits(-1, -1)) // never drop on the client side
	}
	must(nc.Flush())
	fmt.Fprintln(os.Stderr, "nats B ready")
	select {}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func runWorkload(w string) error {
	nc, err := connect("peerbench-A-" + w)
	if err != nil {
		return err
	}
	defer nc.Close()
	switch w {
	case "unary_c1", "unary_cN":
		g := 1
		if w == "unary_cN" {
			g = *conc
		}
		mk := func() func(int64) error {
			req := Req{Payload: payload()}
			buf := make([]byte, 0, 24)
			var rep Req
			return func(n int64) error {
				req.N = n
				buf = req.Encode(buf)
				m, err := nc.Request("bench.echo", buf, 5*time.Second)
				if err != nil {
					return err
				}
				if err := rep.Decode(m.Data); err != nil {
					return err
				}
				if rep.N != n || rep.Payload != req.Payload {
					return errors.New("bad echo")
				}
				return nil
			}
		}
		ops, el, p50, p99, err := measure.RunUnary(g, *warm, *dur, mk)
		if err != nil {
			return err
		}
		measure.Result{Peer: peer, Suite: "rpc", Workload: wname(w), Ops: ops, Elapsed: el, P50: p50, P99: p99,
			Extra: []string{fmt.Sprintf("conc=%d conns=1 via=nats-server", g)}}.Print()
	case "stream":
		inbox := nats.NewInbox()
		ch := make(chan *nats.Msg, *window+1)
		sub, err := nc.ChanSubscribe(inbox, ch)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		// ch has room for every outstanding reply (window+1), so nothing is dropped.
		if err := nc.Flush(); err != nil {
			return err
		}
		req := Req{Payload: payload()}
		buf := make([]byte, 0, 24)
		var rep Req
		s := measure.Stream{
			Send: func(n int64) error {
				req.N = n
				buf = req.Encode(buf)
				return nc.PublishRequest("bench.echo", inbox, buf)
			},
			Recv: func() error {
				select {
				case m := <-ch:
					return rep.Decode(m.Data)
				case <-time.After(10 * time.Second):
					return errors.New("timeout waiting for reply")
				}
			},
		}
		ops, el, err := measure.RunStream(*window, *warm, *dur, s)
		if err != nil {
			return err
		}
		measure.Result{Peer: peer, Suite: "rpc", Workload: "stream", Ops: ops, Elapsed: el, P50: -1,
			Extra: []string{fmt.Sprintf("window=%d conns=1 via=nats-server kind=pipelined_publish_request", *window)}}.Print()
	case "oneway":
		phase := func(d time.Duration) (sent, recv int64, el time.Duration, err error) {
			m := NodeMsg{Tag: "bench", Payload: payload()}
			buf := make([]byte, 0, 32)
			end := time.Now().Add(d)
			for {
				if sent&255 == 0 && time.Now().After(end) {
					break
				}
				m.N = sent
				buf = m.Encode(buf)
				if err = nc.Publish("bench.msg", buf); err != nil {
					return
				}
				sent++
			}
			done := NodeMsg{Tag: "done", N: sent, Payload: payload()}
			rep, err := nc.Request("bench.msg", done.Encode(nil), 10*time.Second)
			if errors.Is(err, nats.ErrTimeout) {
				// messages were lost (slow consumer): ask for what B counted
				done.N = 0
				rep, err = nc.Request("bench.msg", done.Encode(nil), 10*time.Second)
			}
			if err != nil {
				return
			}
			recv = int64(binary.BigEndian.Uint64(rep.Data))
			el = time.Duration(binary.BigEndian.Uint64(rep.Data[8:]))
			return
		}
		if _, _, _, err := phase(*warm); err != nil {
			return err
		}
		sent, recv, el, err := phase(*dur)
		if err != nil {
			return err
		}
		measure.Result{Peer: peer, Suite: "msg", Workload: "oneway", Ops: recv, Elapsed: el, P50: -1,
			Extra: []string{fmt.Sprintf("sent=%d recv=%d lost=%d msg_bytes=30 via=nats-server", sent, recv, sent-recv)}}.Print()
	case "pingpong":
		inbox := nats.NewInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			return err
		}
		ping := NodeMsg{Tag: "ping", Payload: payload()}
		buf := make([]byte, 0, 32)
		var pong NodeMsg
		mk := func() func(int64) error {
			return func(n int64) error {
				ping.N = n
				buf = ping.Encode(buf)
				if err := nc.PublishRequest("bench.ping", inbox, buf); err != nil {
					return err
				}
				m, err := sub.NextMsg(5 * time.Second)
				if err != nil {
					return err
				}
				if err := pong.Decode(m.Data); err != nil {
					return err
				}
				if pong.Tag != "pong" || pong.N != n || !bytes.Equal(pong.Payload[:], ping.Payload[:]) {
					return errors.New("bad pong")
				}
				return nil
			}
		}
		ops, el, p50, p99, err := measure.RunUnary(1, *warm, *dur, mk)
		if err != nil {
			return err
		}
		measure.Result{Peer: peer, Suite: "msg", Workload: "pingpong", Ops: ops, Elapsed: el, P50: p50, P99: p99,
			Extra: []string{"msg_bytes=29 via=nats-server"}}.Print()
	default:
		return fmt.Errorf("unknown workload")
	}
	return nil
}
