// nodebench measures tether's node layer with the peers' shapes (suite msg
// in ../README.md): node A sends to a port on node B, in another OS
// process, over 127.0.0.1; the message is a tag, an int64 and a 16-byte
// payload.
//
//	nodebench -role b -listen 127.0.0.1:17710
//	nodebench -role a -connect 127.0.0.1:17710 -dur 3s -warm 500ms
//
// A finds B's ports by spawning them (the init functions "sink" and "pong"
// are registered on B).
//
//   - oneway: A sends back to back for the window, then "done" with the
//     number sent; B answers with what it counted and the time from its
//     first message to its last: the rate is taken at the receiver.
//   - pingpong: A's port sends a ping; B's port answers a pong to it; one
//     outstanding; p50/p99 round trip.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

var (
	role    = flag.String("role", "a", "a (sender, measures) or b (receiver)")
	listen  = flag.String("listen", "127.0.0.1:17710", "B's address")
	connect = flag.String("connect", "127.0.0.1:17710", "B's address, for A")
	dur     = flag.Duration("dur", 3*time.Second, "measured window per workload")
	warm    = flag.Duration("warm", 500*time.Millisecond, "warm-up per workload")
	works   = flag.String("workloads", "oneway,pingpong", "comma-separated workloads")
	prof    = flag.String("cpuprofile", "", "write a CPU profile of this process to the file")
	memprof = flag.String("memprofile", "", "write a heap profile of this process to the file on exit")
)

var clk = clock.Real()

const secret = "nodebench"

func main() {
	flag.Parse()
	log.SetFlags(0)
	var stops []func() // on exit: stop the CPU profile, write the heap profile
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if *memprof != "" {
		stops = append(stops, func() {
			if f, err := os.Create(*memprof); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		})
	}
	if len(stops) > 0 {
		stop := func() {
			for _, s := range stops {
				s()
			}
		}
		defer stop()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		go func() { <-sig; stop(); os.Exit(0) }()
	}
	switch *role {
	case "b":
		b()
	case "a":
		a()
	default:
		log.Fatalf("bad -role %q", *role)
	}
}

// b runs node B until killed.
func b() {
	n, err := node.Start(context.Background(), node.Config{ID: "bench-b", Binds: []string{*listen}, Secret: secret})
	if err != nil {
		log.Fatal(err)
	}
	var (
		mu          sync.Mutex
		count       int64
		first, last time.Time
	)
	n.Register("sink", func(c *node.Context, _ []any) error {
		c.Rcv("bench", func(c *node.Context, msg []any) error {
			if p, ok := msg[1].([]byte); !ok || len(p) != 16 {
				return fmt.Errorf("bad message %v", msg)
			}
			mu.Lock()
			if count == 0 {
				first = clk.Now()
			}
			count++
			mu.Unlock()
			return nil
		})
		c.Rcv("done", func(c *node.Context, msg []any) error {
			// Messages from one sender arrive in order: by now, all of
			// them have, and this instant bounds the last one's from above
			// (which errs on the side of a lower rate).
			last = clk.Now()
			mu.Lock()
			got, el := count, last.Sub(first)
			count = 0
			mu.Unlock()
			c.Send(msg[0].(string), got, int64(el)) // msg: [reply port] (the tag is gone)
			return nil
		})
		return nil
	})
	n.Register("pong", func(c *node.Context, _ []any) error {
		c.Rcv("ping", func(c *node.Context, msg []any) error {
			c.Send(msg[2].(string), "pong", msg[0], msg[1])
			return nil
		})
		return nil
	})
	select {}
}

// a runs node A and the workloads.
func a() {
	n, err := node.Start(context.Background(), node.Config{ID: "bench-a", Secret: secret})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close(context.Background())
	var peer string
	for range 100 { // B may still be starting
		ctx, cancel := clock.WithTimeout(context.Background(), clk, 5*time.Second)
		peer, err = n.AddNode(ctx, *connect)
		cancel()
		if err == nil {
			break
		}
		clk.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		for _, w := range strings.Split(*works, ",") {
			fail(w, err)
		}
		return
	}
	for _, w := range strings.Split(*works, ",") {
		var err error
		switch w {
		case "oneway":
			err = oneway(n, peer)
		case "pingpong":
			err = pingpong(n, peer)
		default:
			err = fmt.Errorf("unknown workload")
		}
		if err != nil {
			fail(w, err)
		}
	}
}

func payload() []byte { return []byte("abcdefghijklmnop") }

func oneway(n *node.Node, peer string) error {
	sink := n.Spawn(peer, "sink")
	phase := func(d time.Duration) (sent, got int64, el time.Duration, err error) {
		p := payload()
		deadline := clk.Now().Add(d)
		for i := int64(0); ; i++ {
			if i&255 == 0 && !clk.Now().Before(deadline) {
				break
			}
			n.Send(sink, "bench", i, p)
			sent++
		}
		ctx, cancel := clock.WithTimeout(context.Background(), clk, 30*time.Second)
		defer cancel()
		reply, err := n.Call(ctx, sink, "done")
		if err != nil {
			return 0, 0, 0, err
		}
		return sent, reply[0].(int64), time.Duration(reply[1].(int64)), nil
	}
	if _, _, _, err := phase(*warm); err != nil {
		return err
	}
	sent, got, el, err := phase(*dur)
	if err != nil {
		return err
	}
	line("oneway", got, el, -1, -1, fmt.Sprintf("sent=%d recv=%d lost=%d", sent, got, sent-got))
	return nil
}

func pingpong(n *node.Node, peer string) error {
	pong := n.Spawn(peer, "pong")
	replies := make(chan struct{}, 1)
	me := n.Port(nil)
	n.Rcv(me, "pong", func(*node.Context, []any) error { replies <- struct{}{}; return nil })
	phase := func(d time.Duration, record bool) (int64, time.Duration, []time.Duration, error) {
		p := payload()
		var rtts []time.Duration
		start := clk.Now()
		deadline := start.Add(d)
		var count int64
		var last time.Time
		timeout := clk.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for i := int64(0); ; i++ {
			t0 := clk.Now()
			if !t0.Before(deadline) {
				break
			}
			n.Send(pong, "ping", i, p, me)
			select {
			case <-replies:
			case <-timeout.Chan():
				return 0, 0, nil, fmt.Errorf("no pong within 30 s")
			}
			last = clk.Now()
			if record {
				rtts = append(rtts, last.Sub(t0))
			}
			count++
		}
		return count, last.Sub(start), rtts, nil
	}
	if _, _, _, err := phase(*warm, false); err != nil {
		return err
	}
	count, el, rtts, err := phase(*dur, true)
	if err != nil {
		return err
	}
	p50, p99 := percentiles(rtts)
	line("pingpong", count, el, p50, p99)
	return nil
}

// percentiles returns the nearest-rank p50 and p99 in microseconds.
func percentiles(s []time.Duration) (float64, float64) {
	if len(s) == 0 {
		return -1, -1
	}
	slices.Sort(s)
	at := func(p float64) float64 {
		return float64(s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]) / float64(time.Microsecond)
	}
	return at(0.5), at(0.99)
}

func line(workload string, n int64, el time.Duration, p50, p99 float64, extra ...string) {
	var b strings.Builder
	rate := 0.0
	if el > 0 {
		rate = float64(n) / el.Seconds()
	}
	fmt.Fprintf(&b, "peer=tether suite=msg workload=%s ops_per_s=%.0f", workload, rate)
	if p50 >= 0 {
		fmt.Fprintf(&b, " p50_us=%.1f p99_us=%.1f", p50, p99)
	}
	fmt.Fprintf(&b, " n=%d dur_s=%.2f", n, el.Seconds())
	for _, e := range extra {
		b.WriteString(" " + e)
	}
	fmt.Println(b.String())
}

func fail(workload string, err error) {
	fmt.Printf("peer=tether suite=msg workload=%s error=%q\n", workload, err.Error())
	fmt.Fprintf(os.Stderr, "nodebench: %s: %v\n", workload, err)
}
