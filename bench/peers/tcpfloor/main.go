// Command tcpfloor measures the "physical floor", raw Go TCP over loopback,
// for bench/run.sh.
//
//	tcpfloor -mode server -addr 127.0.0.1:17003
//	tcpfloor -mode client -addr 127.0.0.1:17003 -dur 3s
//
// Frame: 4-byte big-endian length L, then L body bytes (L = -body, default 40,
// so 44 bytes on the wire per frame).
//
// Workloads (client side, each on a fresh connection; first byte sent selects it):
//
//	pingpong: 1 goroutine each side; client writes one frame (one write call),
//	          server reads it and writes it back (one write call); client reads.
//	          Reports RTT p50/p99.
//	oneway:   client writes frames through a 64 KiB bufio.Writer (flushes only
//	          when full) for -dur, then CloseWrite; server reads through a 64 KiB
//	          bufio.Reader, parses each frame, counts. The server measures first
//	          frame -> EOF and reports count/elapsed back; the figure is frames/s
//	          received.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/tetherkit/tether/bench/peers/internal/measure"
)

var (
	mode  = flag.String("mode", "client", "server|client")
	addr  = flag.String("addr", "127.0.0.1:17003", "listen/dial address (loopback only)")
	dur   = flag.Duration("dur", 3*time.Second, "measured duration per workload")
	warm  = flag.Duration("warm", 500*time.Millisecond, "warm-up before measuring (pingpong)")
	body  = flag.Int("body", 40, "frame body size in bytes (4-byte length prefix comes on top)")
	works = flag.String("workloads", "pingpong,oneway", "comma-separated workloads")
)

func main() {
	flag.Parse()
	switch *mode {
	case "server":
		server()
	case "client":
		client()
	default:
		log.Fatalf("bad -mode %q", *mode)
	}
}

func server() {
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serveConn(c.(*net.TCPConn))
	}
}

func serveConn(c *net.TCPConn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	kind, err := r.ReadByte()
	if err != nil {
		return
	}
	hdr := make([]byte, 4)
	buf := make([]byte, 1<<16)
	switch kind {
	case 'P': // ping-pong echo
		out := make([]byte, 0, 4+len(buf))
		for {
			if _, err := io.ReadFull(r, hdr); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(hdr)
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				return
			}
			out = append(append(out[:0], hdr...), buf[:n]...)
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	case 'O': // one-way sink
		var count int64
		var first time.Time
		for {
			if _, err := io.ReadFull(r, hdr); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return
			}
			n := binary.BigEndian.Uint32(hdr)
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				return
			}
			if count == 0 {
				first = time.Now()
			}
			count++
		}
		el := time.Since(first)
		res := make([]byte, 16)
		binary.BigEndian.PutUint64(res, uint64(count))
		binary.BigEndian.PutUint64(res[8:], uint64(el))
		c.Write(res)
	}
}

func dial() (*net.TCPConn, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", *addr)
		if err == nil {
			return c.(*net.TCPConn), nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func frame() []byte {
	f := make([]byte, 4+*body)
	binary.BigEndian.PutUint32(f, uint32(*body))
	for i := 4; i < len(f); i++ {
		f[i] = byte(i)
	}
	return f
}

func client() {
	for _, w := range splitComma(*works) {
		var err error
		switch w {
		case "pingpong":
			err = pingpong()
		case "oneway":
			err = oneway()
		default:
			err = fmt.Errorf("unknown workload")
		}
		if err != nil {
			measure.Fail("tcp", "floor", w, err)
		}
	}
}

func pingpong() error {
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'P'}); err != nil {
		return err
	}
	f := frame()
	in := make([]byte, len(f))
	rec := measure.NewRec(1 << 18)
	run := func(d time.Duration, record bool) (int64, time.Duration, error) {
		var n int64
		start := time.Now()
		end := start.Add(d)
		for {
			t0 := time.Now()
			if t0.After(end) {
				return n, t0.Sub(start), nil
			}
			binary.BigEndian.PutUint64(f[4:], uint64(n))
			if _, err := c.Write(f); err != nil {
				return n, 0, err
			}
			if _, err := io.ReadFull(c, in); err != nil {
				return n, 0, err
			}
			if record {
				rec.Add(time.Since(t0))
			}
			n++
		}
	}
	if _, _, err := run(*warm, false); err != nil {
		return err
	}
	n, el, err := run(*dur, true)
	if err != nil {
		return err
	}
	p50, p99, _ := measure.Pcts(rec)
	measure.Result{Peer: "tcp", Suite: "floor", Workload: "pingpong", Ops: n, Elapsed: el, P50: p50, P99: p99,
		Extra: []string{fmt.Sprintf("frame_bytes=%d", len(f))}}.Print()
	return nil
}

func oneway() error {
	c, err := dial()
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 64<<10)
	w.WriteByte('O')
	f := frame()
	var sent int64
	start := time.Now()
	end := start.Add(*dur)
	for {
		if sent&1023 == 0 && time.Now().After(end) {
			break
		}
		binary.BigEndian.PutUint64(f[4:], uint64(sent))
		if _, err := w.Write(f); err != nil {
			return err
		}
		sent++
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	res := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, res); err != nil {
		return err
	}
	count := int64(binary.BigEndian.Uint64(res))
	el := time.Duration(binary.BigEndian.Uint64(res[8:]))
	measure.Result{Peer: "tcp", Suite: "floor", Workload: "oneway", Ops: count, Elapsed: el, P50: -1,
		Extra: []string{fmt.Sprintf("sent=%d frame_bytes=%d", sent, len(f)),
			fmt.Sprintf("mb_per_s=%.1f", float64(count*int64(len(f)))/el.Seconds()/1e6)}}.Print()
	return nil
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func init() { log.SetOutput(os.Stderr) }
