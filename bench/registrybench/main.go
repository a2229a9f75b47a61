// registrybench measures the node registry over 127.0.0.1:
//
//	go run ./registrybench            # both workloads
//	go run ./registrybench -n 1000 -nodes 50 -per 200
//
// Workloads:
//
//   - latency: a global node G and nodes A and B seeded at it (one
//     process). B watches a family (DBMon); A registers a port (DBReg),
//     waits until B's monitor reports it, kills the port, waits until the
//     monitor reports it gone; n times. The figure is the time from DBReg
//     on A to the report on B, p50/p99. The baseline, measured alternately
//     in the same run, is the same two hops for a plain message: A sends to
//     a port on G that passes it on to a port on B.
//   - throughput: G in a child process of its own; in this one, the
//     attached nodes and a watcher. Every node registers its ports at
//     once; the figure is registrations per second from the first DBReg
//     to the watcher's monitor holding all of them, then deregistrations
//     per second (the nodes kill their ports) until it holds none.
//
// Lines are "suite=registry workload=… key=value…", like the other
// benchmarks here.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

var (
	count  = flag.Int("n", 1000, "latency: registrations")
	nodes  = flag.Int("nodes", 50, "throughput: attached nodes")
	per    = flag.Int("per", 200, "throughput: registrations per attached node")
	works  = flag.String("workloads", "latency,throughput", "comma-separated workloads")
	global = flag.Bool("global", false, "run only a global node and print its address (the throughput workload's child)")
	prof   = flag.String("cpuprofile", "", "write CPU profiles: FILE for this process, FILE.global for the global's")
)

var clk = clock.Real()

const secret = "registrybench"

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *prof != "" {
		name := *prof
		if *global {
			name += ".global"
		}
		f, err := os.Create(name)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *global {
		runGlobal()
		return
	}
	for _, w := range strings.Split(*works, ",") {
		var err error
		switch w {
		case "latency":
			err = latency()
		case "throughput":
			err = throughput()
		default:
			err = fmt.Errorf("unknown workload %q", w)
		}
		if err != nil {
			fmt.Printf("suite=registry workload=%s error=%q\n", w, err.Error())
		}
	}
}

func start(id string, seeds ...string) (*node.Node, error) {
	return node.Start(context.Background(), node.Config{
		ID: id, Binds: []string{"127.0.0.1:0"}, Seeds: seeds, Secret: secret,
		Limits: node.Limits{DBKeys: 1 << 20},
	})
}

// runGlobal is the child process of the throughput workload: a global
// node, until its stdin closes.
func runGlobal() {
	g, err := start("global")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.Addrs()[0])
	bufio.NewReader(os.Stdin).ReadString('\n')
	g.Close(context.Background())
}

// watcher follows a family and signals when it holds want entries.
type watcher struct {
	mu    sync.Mutex
	size  int
	want  int
	seen  map[string]time.Time // latency: when each key was reported added
	ready chan struct{}
}

func newWatcher() *watcher { return &watcher{seen: map[string]time.Time{}, want: -1} }

func (w *watcher) report(c node.DBChange) {
	now := clk.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range c.Added {
		w.seen[k] = now
	}
	w.size = len(c.Entries)
	if w.size == w.want && w.ready != nil {
		close(w.ready)
		w.ready = nil
	}
}

// await waits until the family holds n entries.
func (w *watcher) await(n int) error {
	w.mu.Lock()
	if w.size == n {
		w.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	w.want, w.ready = n, ch
	w.mu.Unlock()
	t := clk.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.Chan():
		w.mu.Lock()
		defer w.mu.Unlock()
		return fmt.Errorf("the watcher holds %d entries after 30 s, want %d", w.size, n)
	}
}

func latency() error {
	g, err := start("g")
	if err != nil {
		return err
	}
	defer g.Close(context.Background())
	a, err := start("a", g.Addrs()[0])
	if err != nil {
		return err
	}
	defer a.Close(context.Background())
	b, err := start("b", g.Addrs()[0])
	if err != nil {
		return err
	}
	defer b.Close(context.Background())

	w := newWatcher()
	guard, err := b.DBMon("bench", w.report)
	if err != nil {
		return err
	}
	defer guard.Stop()
	if err := w.await(0); err != nil {
		return err
	}
	// The baseline's path: A → a port on G → a port on B.
	arrived := make(chan time.Time, 1)
	sink := b.Port(func(*node.Context, []any) error { arrived <- clk.Now(); return nil })
	relay := g.Port(func(c *node.Context, msg []any) error { c.Send(sink, msg...); return nil })

	var reg, base []time.Duration
	for i := range *count + *count/10 { // the first tenth warms up
		p := a.Port(nil)
		t0 := clk.Now()
		if _, err := a.DBReg("bench", p, int64(i)); err != nil {
			return err
		}
		if err := w.await(1); err != nil {
			return err
		}
		w.mu.Lock()
		d := w.seen[p].Sub(t0)
		w.mu.Unlock()
		a.Kill(p)
		if err := w.await(0); err != nil {
			return err
		}
		t0 = clk.Now()
		a.Send(relay, "hop", int64(i))
		d2 := (<-arrived).Sub(t0)
		if i >= *count/10 {
			reg = append(reg, d)
			base = append(base, d2)
		}
	}
	r50, r99 := percentiles(reg)
	b50, b99 := percentiles(base)
	fmt.Printf("suite=registry workload=latency n=%d p50_us=%.1f p99_us=%.1f relay_p50_us=%.1f relay_p99_us=%.1f ratio_p50=%.2f\n",
		len(reg), r50, r99, b50, b99, r50/b50)
	return nil
}

func throughput() error {
	cmd := exec.Command(os.Args[0], "-global", "-cpuprofile="+*prof)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("the global node: %v", err)
	}
	gaddr := strings.TrimSpace(line)

	var ns []*node.Node
	defer func() {
		for _, n := range ns {
			n.Close(context.Background())
		}
	}()
	for i := range *nodes {
		n, err := start(fmt.Sprintf("n%d", i), gaddr)
		if err != nil {
			return err
		}
		ns = append(ns, n)
	}
	wn, err := start("watcher", gaddr)
	if err != nil {
		return err
	}
	ns = append(ns, wn)
	w := newWatcher()
	guard, err := wn.DBMon("bench", w.report)
	if err != nil {
		return err
	}
	defer guard.Stop()
	if err := w.await(0); err != nil {
		return err
	}
	// Every node is registered with the global before the clock starts.
	for _, n := range ns {
		ctx, cancel := clock.WithTimeout(context.Background(), clk, 30*time.Second)
		_, err := n.DBKeys(ctx, "'l")
		cancel()
		if err != nil {
			return err
		}
	}
	total := *nodes * *per
	ports := make([][]string, *nodes)
	t0 := clk.Now()
	var wg sync.WaitGroup
	for i, n := range ns[:*nodes] {
		wg.Go(func() {
			for range *per {
				p := n.Port(nil)
				n.DBReg("bench", p, nil)
				ports[i] = append(ports[i], p)
			}
		})
	}
	wg.Wait()
	if err := w.await(total); err != nil {
		return err
	}
	el := clk.Since(t0)
	t1 := clk.Now()
	for i, n := range ns[:*nodes] {
		wg.Go(func() {
			for _, p := range ports[i] {
				n.Kill(p)
			}
		})
	}
	wg.Wait()
	if err := w.await(0); err != nil {
		return err
	}
	el2 := clk.Since(t1)
	fmt.Printf("suite=registry workload=throughput nodes=%d registrations=%d reg_per_s=%.0f dereg_per_s=%.0f\n",
		*nodes, total, float64(total)/el.Seconds(), float64(total)/el2.Seconds())
	return nil
}

// percentiles returns the nearest-rank p50 and p99 in microseconds.
func percentiles(s []time.Duration) (float64, float64) {
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return float64(s[max(i, 0)]) / float64(time.Microsecond)
	}
	return at(0.50), at(0.99)
}
