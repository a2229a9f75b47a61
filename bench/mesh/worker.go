package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherkit/tether/clock"
)

// mesh is one side of the comparison: this process's share of the nodes,
// in tether or in plain TCP.
type mesh interface {
	// start starts nodes first … first+count−1 of n and returns their
	// endpoints; every bench message a sink receives calls counted.
	start(first, count, n int, counted func()) ([]endpoint, error)
	// link links every local node to every node with a higher index, and
	// returns once every local node has a link to every other node.
	link(ctx context.Context, all []endpoint, parallel int) error
	// send sends bench message seq from local node li (0 … count−1) to the
	// sink of node j. now: a plain program would write it at once.
	send(li, j int, seq int64, now bool)
	// flush writes out what local node li's sends left buffered.
	flush(li int)
	// ping sends a ping from local node li to the echo of node j and waits
	// for its pong.
	ping(ctx context.Context, li, j int, seq int64) error
	close()
}

// worker hosts a share of the nodes and answers the coordinator's commands.
type worker struct {
	m            mesh
	first, count int
	n            int

	got  atomic.Int64 // bench messages counted by the sinks since expect
	want atomic.Int64
	mu   sync.Mutex
	all  chan struct{} // closed when got reaches want; replaced by expect, under mu

	profile *os.File // the CPU profile being written
}

// runWorker answers commands on stdin until quit or EOF.
func runWorker() error {
	w := &worker{all: make(chan struct{})}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			return err
		}
		if c.Op == "quit" {
			break
		}
		r, err := w.do(c)
		if err != nil {
			r.Err = err.Error()
		}
		if err := out.Encode(r); err != nil {
			return err
		}
	}
	if w.m != nil {
		w.m.close()
	}
	return in.Err()
}

func (w *worker) do(c command) (reply, error) {
	switch c.Op {
	case "start":
		switch c.Impl {
		case "tether":
			w.m = &tetherMesh{}
		case "tcp":
			w.m = &tcpMesh{}
		default:
			return reply{}, fmt.Errorf("unknown impl %q", c.Impl)
		}
		w.first, w.count, w.n = c.First, c.Count, c.N
		eps, err := w.m.start(c.First, c.Count, c.N, w.counted)
		return reply{Endpoints: eps}, err
	case "link":
		ctx, cancel := clock.WithTimeout(context.Background(), clk, 10*time.Minute)
		defer cancel()
		return reply{}, w.m.link(ctx, c.All, c.Parallel)
	case "stats":
		return w.stats(c.HeapProfile)
	case "cpuprofile":
		return reply{}, w.cpuProfile(c.CPUProfile)
	case "expect":
		w.mu.Lock()
		w.got.Store(0)
		w.want.Store(c.Want)
		w.all = make(chan struct{})
		if c.Want == 0 {
			close(w.all)
		}
		w.mu.Unlock()
		return reply{}, nil
	case "spread":
		return w.spread(c.PerTarget)
	case "pace":
		return w.pace(c)
	case "ping":
		var r reply
		var err error
		r.Pings, r.P50, r.P99, err = w.pingFor(c.PingTarget, c.Warm, c.Dur)
		return r, err
	}
	return reply{}, fmt.Errorf("unknown op %q", c.Op)
}

// counted is called by the sinks for every bench message.
func (w *worker) counted() {
	if w.got.Add(1) == w.want.Load() {
		w.mu.Lock()
		close(w.all)
		w.mu.Unlock()
	}
}

// stats reports the heap in use after a collection, the goroutine stacks
// and the goroutines.
func (w *worker) stats(heapProfile string) (reply, error) {
	runtime.GC()
	runtime.GC() // the second one frees what the first one's finalizers released, and what sync.Pools held
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := reply{Heap: ms.HeapAlloc, Stack: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
	if heapProfile != "" {
		f, err := os.Create(heapProfile)
		if err != nil {
			return r, err
		}
		defer f.Close()
		return r, pprof.Lookup("heap").WriteTo(f, 0)
	}
	return r, nil
}

// cpuProfile starts a CPU profile into file, or stops the one running
// when file is empty.
func (w *worker) cpuProfile(file string) error {
	if file == "" {
		pprof.StopCPUProfile()
		if w.profile != nil {
			w.profile.Close()
			w.profile = nil
		}
		return nil
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w.profile = f
	return pprof.StartCPUProfile(f)
}

// spread sends perTarget messages from every local node to every other
// node, one goroutine per local node, as fast as send goes, and returns
// once they are sent and this worker's sinks have counted what expect said.
func (w *worker) spread(perTarget int) (reply, error) {
	var wg sync.WaitGroup
	for li := range w.count {
		wg.Go(func() {
			self := w.first + li
			seq := int64(0)
			for range perTarget {
				for j := range w.n {
					if j != self {
						w.m.send(li, j, seq, false)
						seq++
					}
				}
			}
			w.m.flush(li)
		})
	}
	wg.Wait()
	sent := int64(w.count) * int64(w.n-1) * int64(perTarget)
	w.mu.Lock()
	all := w.all
	w.mu.Unlock()
	select {
	case <-all:
	case <-clk.After(5 * time.Minute):
		return reply{Sent: sent, Received: w.got.Load()}, errors.New("messages missing after 5 minutes")
	}
	return reply{Sent: sent, Received: w.got.Load()}, nil
}

// pace sends c.Rate messages/s from this worker's nodes, cycling through
// every (local node, target) pair, for c.Warm+c.Dur; it reports what was
// sent and what its sinks counted during c.Dur. With c.Ping, its first node
// pings c.PingTarget meanwhile.
func (w *worker) pace(c command) (reply, error) {
	var r reply
	var pingErr error
	var wg sync.WaitGroup
	if c.Ping {
		wg.Go(func() { r.Pings, r.P50, r.P99, pingErr = w.pingFor(c.PingTarget, c.Warm, c.Dur) })
	}
	const tick = time.Millisecond
	t := clk.NewTicker(tick)
	defer t.Stop()
	start := clk.Now()
	var sent, k, sentAtWarm, gotAtWarm int64
	warm := true
	for now := range t.Chan() {
		el := now.Sub(start)
		if warm && el >= c.Warm {
			warm = false
			sentAtWarm, gotAtWarm = sent, w.got.Load()
		}
		if el >= c.Warm+c.Dur {
			r.Sent, r.Received = sent-sentAtWarm, w.got.Load()-gotAtWarm
			break
		}
		for due := int64(c.Rate * el.Seconds()); sent < due; sent++ {
			li := int(k % int64(w.count))
			j := int(k/int64(w.count)) % (w.n - 1)
			if j >= w.first+li {
				j++ // skip the node itself
			}
			w.m.send(li, j, k, true)
			k++
		}
	}
	wg.Wait()
	return r, pingErr
}

// pingFor runs ping-pong from the first local node to node target, one
// round trip outstanding: warm, then measured for dur.
func (w *worker) pingFor(target int, warm, dur time.Duration) (n int, p50, p99 float64, err error) {
	ctx, cancel := clock.WithTimeout(context.Background(), clk, warm+dur+time.Minute)
	defer cancel()
	var rtts []time.Duration
	var seq int64
	for _, d := range []time.Duration{warm, dur} {
		end := clk.Now().Add(d)
		rtts = rtts[:0]
		for {
			t0 := clk.Now()
			if !t0.Before(end) {
				break
			}
			if err := w.m.ping(ctx, 0, target, seq); err != nil {
				return 0, 0, 0, err
			}
			rtts = append(rtts, clk.Since(t0))
			seq++
		}
	}
	if len(rtts) == 0 {
		return 0, 0, 0, errors.New("no round trip in the window")
	}
	slices.Sort(rtts)
	at := func(p float64) float64 {
		return float64(rtts[max(int(math.Ceil(p*float64(len(rtts))))-1, 0)]) / float64(time.Microsecond)
	}
	return len(rtts), at(0.5), at(0.99), nil
}
