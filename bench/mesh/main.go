// mesh measures what a full mesh of tether nodes costs, next to a plain Go
// TCP program with the same process layout and the same traffic: N nodes
// spread over 4 OS processes on 127.0.0.1, one link (one connection) per
// pair of nodes.
//
//	go run ./mesh                        # N = 10, 50, 100, 200; tether, then plain TCP
//	go run ./mesh -n 50 -impl tether -heapprofile /tmp/mesh
//
// For each N and each side it starts the worker processes (this program
// again, with -worker) and measures, in order:
//
//   - time to mesh: from asking every node to link to every node with a
//     higher index until every node has a link to every other;
//   - heap (after a collection), goroutine stacks, RSS and goroutines, per
//     link: the growth from the started, unlinked nodes to the mesh,
//     divided by the links (each link has two ends, both counted);
//   - idle CPU: the CPU time of the worker processes over -idle, as a
//     share of one core: heartbeats, every 10 s on every link end, sent
//     by each node to all its links together, on both sides;
//   - ping-pong, idle: the first node pings a node in the second process,
//     one round trip outstanding: p50 and p99;
//   - unpaced spread traffic: every node sends -msgs/(N·(N−1)) messages to
//     the sink of every other node, as fast as sending goes, one goroutine
//     per node: messages/s over all links (until the last one is counted),
//     CPU per message, and messages per write system call;
//   - heap per link after that burst, once collected;
//   - paced spread traffic: -rate messages/s in all, spread over every pair,
//     for -dur after -warm: CPU per message and messages per write, while
//     the ping-pong runs again under that load.
//
// CPU time is the scheduler's count of every thread of the worker
// processes (/proc/PID/task/*/schedstat), and RSS is VmRSS. Write system
// calls are syscw in /proc/PID/io: every write(2) and writev(2) of the
// process, which are the socket writes and also the Go runtime's wake-ups
// of its network poller (a write to an eventfd), on both sides alike — so
// messages written one at a time show as a little under one per write. A tether message is ["bench", n, a
// 16-byte payload] to a port; a plain TCP message is a 4-byte length and a
// 40-byte body on the connection to that node, written through a 4 KiB
// bufio.Writer: flushed when full and at the end of a burst, and at once
// for paced traffic and pings.
//
// The output is one "mesh impl=… n=… key=value…" line per side and N, and a
// table for each N with the ratios.
package main

import (
	"flag"
	"fmt"
	"log"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tetherkit/tether/clock"
)

var (
	ns       = flag.String("n", "10,50,100,200", "numbers of nodes, comma-separated")
	procs    = flag.Int("procs", 4, "worker processes the nodes are spread over")
	impls    = flag.String("impl", "tether,tcp", "sides to measure, in order: tether, tcp")
	idle     = flag.Duration("idle", 20*time.Second, "window for the idle CPU (heartbeats: every 10 s)")
	msgs     = flag.Int("msgs", 4_000_000, "messages in the unpaced burst, over all links (rounded up to a whole number per pair)")
	paceRate = flag.Float64("rate", 50_000, "messages/s of the paced traffic, over all links")
	warm     = flag.Duration("warm", time.Second, "warm-up of the paced traffic and of each ping-pong")
	dur      = flag.Duration("dur", 5*time.Second, "measured window of the paced traffic and of each ping-pong")
	parallel = flag.Int("parallel", 32, "links each process makes at once")
	heapDir  = flag.String("heapprofile", "", "directory: each worker writes heap profiles of the idle mesh and of the mesh after the unpaced burst there")
	cpuDir   = flag.String("cpuprofile", "", "directory: each worker writes CPU profiles of the idle window and of the unpaced spread there")
	isWorker = flag.Bool("worker", false, "run as a worker process (the coordinator starts them)")
)

var clk = clock.Real()

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *isWorker {
		if err := runWorker(); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *procs < 2 {
		log.Fatal("-procs: at least 2 (the ping-pong goes from the first process to the second)")
	}
	var sizes []int
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2**procs {
			log.Fatalf("-n: %q is not a number of nodes ≥ 2×procs", s)
		}
		sizes = append(sizes, n)
	}
	var results [][]result
	for _, n := range sizes {
		var row []result
		for _, impl := range strings.Split(*impls, ",") {
			log.Printf("mesh: %s, N = %d", impl, n)
			r, err := measure(impl, n)
			if err != nil {
				log.Fatalf("%s, N = %d: %v", impl, n, err)
			}
			fmt.Println(r.line())
			row = append(row, r)
		}
		results = append(results, row)
	}
	fmt.Println()
	for _, row := range results {
		table(row)
	}
}

// result is what one side measured at one N.
type result struct {
	impl         string
	n, links     int
	mesh         time.Duration
	heap, stack  float64 // bytes per link, both ends
	rss          float64
	goroutines   float64 // per link, both ends
	idleCPU      float64 // share of one core
	unpaced      float64 // messages/s
	unpacedWrite float64 // messages per write system call
	unpacedCPU   float64 // CPU ns per message
	heapAfter    float64 // bytes per link after the burst
	paced        float64 // messages/s counted
	pacedCPU     float64
	pacedWrite   float64
	pingIdle     [2]float64 // p50, p99 in µs
	pingLoad     [2]float64
}

func (r result) line() string {
	return fmt.Sprintf("mesh impl=%s n=%d links=%d mesh_s=%.3f heap_per_link=%.0f stack_per_link=%.0f rss_per_link=%.0f "+
		"goroutines_per_link=%.2f idle_cpu_pct=%.2f unpaced_msgs_per_s=%.0f unpaced_msgs_per_write=%.1f unpaced_cpu_ns_per_msg=%.0f "+
		"heap_per_link_after_burst=%.0f paced_msgs_per_s=%.0f paced_cpu_ns_per_msg=%.0f paced_msgs_per_write=%.2f "+
		"pingpong_idle_p50_us=%.1f pingpong_idle_p99_us=%.1f pingpong_load_p50_us=%.1f pingpong_load_p99_us=%.1f",
		r.impl, r.n, r.links, r.mesh.Seconds(), r.heap, r.stack, r.rss, r.goroutines, 100*r.idleCPU,
		r.unpaced, r.unpacedWrite, r.unpacedCPU, r.heapAfter, r.paced, r.pacedCPU, r.pacedWrite,
		r.pingIdle[0], r.pingIdle[1], r.pingLoad[0], r.pingLoad[1])
}

// measure runs one side at one N.
func measure(impl string, n int) (r result, err error) {
	r = result{impl: impl, n: n, links: n * (n - 1) / 2}
	ws, err := startWorkers(*procs, n)
	if err != nil {
		return r, err
	}
	defer ws.stop()

	// Start the nodes.
	reps, err := ws.all(func(k int) command {
		return command{Op: "start", Impl: impl, First: ws.first[k], Count: ws.count[k], N: n}
	})
	if err != nil {
		return r, fmt.Errorf("start: %w", err)
	}
	var all []endpoint
	for _, rep := range reps {
		all = append(all, rep.Endpoints...)
	}
	before, err := ws.stats("")
	if err != nil {
		return r, err
	}

	// Link them.
	t0 := clk.Now()
	if _, err := ws.all(func(int) command { return command{Op: "link", All: all, Parallel: *parallel} }); err != nil {
		return r, fmt.Errorf("link: %w", err)
	}
	r.mesh = clk.Since(t0)
	profile := ""
	if *heapDir != "" {
		profile = filepath.Join(*heapDir, fmt.Sprintf("heap-%s-n%d", impl, n))
	}
	meshed, err := ws.stats(profile)
	if err != nil {
		return r, err
	}
	perLink := func(a, b int64) float64 { return float64(b-a) / float64(r.links) }
	r.heap = perLink(before.heap, meshed.heap)
	r.stack = perLink(before.stack, meshed.stack)
	r.rss = perLink(before.rss, meshed.rss)
	r.goroutines = perLink(int64(before.goroutines), int64(meshed.goroutines))

	// Idle.
	if err := ws.profile("idle", impl, n); err != nil {
		return r, err
	}
	cpu0, _ := ws.usage()
	clk.Sleep(*idle)
	cpu1, _ := ws.usage()
	if err := ws.profile("", impl, n); err != nil {
		return r, err
	}
	r.idleCPU = float64(cpu1-cpu0) / float64(*idle)

	// Ping-pong, idle: node 0 to the first node of the second process.
	target := ws.first[1]
	pr, err := ws.call(0, command{Op: "ping", PingTarget: target, Warm: *warm, Dur: *dur})
	if err != nil {
		return r, fmt.Errorf("ping: %w", err)
	}
	r.pingIdle = [2]float64{pr.P50, pr.P99}

	// Unpaced spread traffic.
	perTarget := (*msgs + n*(n-1) - 1) / (n * (n - 1))
	total := int64(perTarget) * int64(n) * int64(n-1)
	if _, err := ws.all(func(k int) command {
		return command{Op: "expect", Want: int64(ws.count[k]) * int64(n-1) * int64(perTarget)}
	}); err != nil {
		return r, err
	}
	if err := ws.profile("unpaced", impl, n); err != nil {
		return r, err
	}
	cpu0, w0 := ws.usage()
	t0 = clk.Now()
	if _, err := ws.all(func(int) command { return command{Op: "spread", PerTarget: perTarget} }); err != nil {
		return r, fmt.Errorf("spread: %w", err)
	}
	el := clk.Since(t0)
	cpu1, w1 := ws.usage()
	if err := ws.profile("", impl, n); err != nil {
		return r, err
	}
	r.unpaced = float64(total) / el.Seconds()
	r.unpacedCPU = float64(cpu1-cpu0) / float64(total)
	r.unpacedWrite = float64(total) / float64(max(w1-w0, 1))
	if *heapDir != "" {
		profile = filepath.Join(*heapDir, fmt.Sprintf("heap-after-burst-%s-n%d", impl, n))
	}
	after, err := ws.stats(profile)
	if err != nil {
		return r, err
	}
	r.heapAfter = perLink(before.heap, after.heap)

	// Paced spread traffic, and ping-pong under it.
	done := make(chan error, 1)
	var preps []reply
	go func() {
		var err error
		preps, err = ws.all(func(k int) command {
			return command{Op: "pace", Rate: *paceRate * float64(ws.count[k]) / float64(n), Warm: *warm, Dur: *dur,
				Ping: k == 0, PingTarget: target}
		})
		done <- err
	}()
	clk.Sleep(*warm)
	cpu0, w0 = ws.usage()
	clk.Sleep(*dur)
	cpu1, w1 = ws.usage()
	if err := <-done; err != nil {
		return r, fmt.Errorf("pace: %w", err)
	}
	var sent, got int64
	for _, p := range preps {
		sent += p.Sent
		got += p.Received
	}
	r.paced = float64(got) / dur.Seconds()
	r.pacedCPU = float64(cpu1-cpu0) / float64(max(got, 1))
	r.pacedWrite = float64(sent) / float64(max(w1-w0, 1))
	r.pingLoad = [2]float64{preps[0].P50, preps[0].P99}
	return r, nil
}
