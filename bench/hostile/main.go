// hostile attacks a tether node the way a hostile peer or a careless user
// would, one attack per run, and prints one line of figures. The node under
// attack runs in a child process (this binary, re-executed with -child), so
// that its peak memory is its own: when it stops it reports its peak RSS
// (hwm_mib: VmHWM from /proc/self/status), its peak Go HeapInuse and
// goroutine count (sampled every 50 ms), the peak of its live heap as of
// the last GC cycle (live_peak_mib: what it held, without the garbage not
// yet collected) and its HeapInuse after a GC at the end (heap_end_mib:
// what it keeps). HeapInuse counts whole spans, RSS only the pages touched,
// so either may be the larger. Linux only.
//
//	hostile -attack blocked-port -label after   # one run, one line
//	hostile -summary results.txt                # the table of many lines
//	BEFORE=/path/to/old/tree ./run.sh           # every attack, 3 rounds, two trees
//
// The attacks (-attack):
//
//   - idle: the victim starts and idles for 2 s: the baseline.
//   - blocked-port: the victim has a port whose handler blocks forever; a
//     node in this process links to it and sends it 32 KiB messages (-size)
//     as fast as Send lets it for 10 s (-dur). Measured: the victim;
//     sent_mib counts the sender's Send calls that returned, link_drops the
//     times its link to the victim went down.
//   - dead-node: the measured process is the sender, a child that links to a
//     node in a second child, which is then killed (SIGKILL); the sender then
//     sends 64 KiB messages to a port there for 5 s, from outside port
//     context (sent_msgs).
//   - half-open: 1000 TCP connections (-conns) to the victim's listener that
//     send nothing; half-open-greeting: 1000 that send a valid greeting line
//     (each claiming its own node ID) and then nothing. After 3 s, alive
//     counts the connections the victim still holds; then a node in this
//     process tries AddNode to the victim every 250 ms until it links
//     (linked=1, link_s from the first try, attempts, first_ok) or -linkwait
//     (40 s) passes (linked=0).
//   - claimed-id: the victim is node "a"; every second a raw TCP client sends
//     it a greeting claiming to be node "b" and a nonce, then stalls; from
//     1.5 s on, the victim links to the real node "b" (in this process) with
//     AddNode, waiting at most -linkwait: linked, link_s.
//   - id-churn: for 10 s, 4 clients connect, send a greeting claiming a fresh
//     node ID each time and a nonce, and hang up (claims). Measured: the
//     victim, and what it keeps afterwards (heap_end_mib).
//
// Every message sent is a fresh buffer filled with random bytes, so that a
// node that keeps it keeps pages that count in RSS. A measured child whose
// RSS passes -maxrss (4 GiB) stops there and reports capped=1 and when.
//
// The program uses only API that tether had before the hardening of issue
// 10 (node.Start, Config{ID, Binds, Secret, Limits}, Port, Send, AddNode,
// Addrs, MonitorNodes), so the same files build in an older tree: run.sh
// copies them to that tree's bench/hostile and builds them there. Send
// returns an error now and nothing before; send_errs counts the errors
// where there are any.
//
// Memory figures hold on a shared machine; the times and rates (link_s,
// attempts, sent_mib, sent_msgs, claims) depend on the CPU the run got.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

var (
	attack   = flag.String("attack", "", "idle, blocked-port, dead-node, half-open, half-open-greeting, claimed-id or id-churn")
	label    = flag.String("label", "", "a label for the result line (tree=LABEL), such as before or after")
	dur      = flag.Duration("dur", 0, "how long the attack sends (default: 10 s for blocked-port and id-churn, 5 s for dead-node)")
	size     = flag.Int("size", 0, "message payload in bytes (default: 32 KiB for blocked-port, 64 KiB for dead-node)")
	conns    = flag.Int("conns", 1000, "connections for half-open")
	linkwait = flag.Duration("linkwait", 40*time.Second, "how long a legitimate node tries to link (half-open, claimed-id)")
	maxRSS   = flag.Int64("maxrss", 4<<30, "a measured child whose RSS passes this many bytes stops the attack (capped=1)")
	memprof  = flag.String("memprofile", "", "each child writes a heap profile to this file plus \".\" and its node ID when it reports")
	summary  = flag.String("summary", "", "read result lines from this file (- for stdin) and print the median and range per attack and label")

	sendQueue  = flag.Int("sendqueue", 0, "Limits.SendQueue of every node (0: the default)")
	localQueue = flag.Int("localqueue", 0, "Limits.LocalQueue of every node (0: the default)")
	maxFrame   = flag.Int("maxframe", 0, "Limits.MaxFrame of every node (0: the default)")

	// A child's part (set by the parent).
	child   = flag.Bool("child", false, "run as a child: a node that reports its memory")
	id      = flag.String("id", "", "child: node ID")
	block   = flag.Bool("block", false, "child: the port's handler blocks forever")
	addNode = flag.String("addnode", "", "child: AddNode this address before reporting ready")
	sendTo  = flag.String("sendto", "", "child: on go, send -size messages to this port for -dur, then report")
	linkTo  = flag.String("linkto", "", "child: on go, AddNode this address (waiting at most -linkwait), then report")
)

const secret = "hostile"

var clk = clock.Real()

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("hostile: ")
	if *summary != "" {
		if err := summarize(*summary, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *child {
		runChild()
		return
	}
	run, ok := attacks[*attack]
	if !ok {
		log.Fatalf("unknown -attack %q", *attack)
	}
	r := result{"attack": *attack}
	if *label != "" {
		r["tree"] = *label
	}
	defer killChildren()
	run(r)
	fmt.Println(r)
}

var attacks = map[string]func(result){
	"idle":               idle,
	"blocked-port":       blockedPort,
	"dead-node":          deadNode,
	"half-open":          func(r result) { halfOpen(r, false) },
	"half-open-greeting": func(r result) { halfOpen(r, true) },
	"claimed-id":         claimedID,
	"id-churn":           idChurn,
}

// result is a line of figures, "key=value" in the order set.
type result map[string]string

func (r result) set(k string, v any) {
	switch v := v.(type) {
	case float64:
		r[k] = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		r[k] = fmt.Sprint(v)
	}
}

// String puts attack and tree first, then the rest sorted.
func (r result) String() string {
	keys := make([]string, 0, len(r))
	for k := range r {
		if k != "attack" && k != "tree" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	keys = append([]string{"attack", "tree"}, keys...)
	var b strings.Builder
	for _, k := range keys {
		if v, ok := r[k]; ok {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(k + "=" + v)
		}
	}
	return b.String()
}

func limits() node.Limits {
	return node.Limits{SendQueue: *sendQueue, LocalQueue: *localQueue, MaxFrame: *maxFrame}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// sender returns n.Send as a function that returns an error: the current
// Send returns one, older ones nothing, and the method value's type tells
// which.
func sender(n *node.Node) func(port string, msg ...any) error {
	switch f := any(n.Send).(type) {
	case func(string, ...any) error:
		return f
	case func(string, ...any):
		return func(port string, msg ...any) error { f(port, msg...); return nil }
	}
	panic("node.Send has an unknown signature")
}

// sendFor sends messages of size bytes to port from a goroutine, each a
// fresh buffer filled with random bytes (so that its pages are touched, as
// real data's are), and returns after d, or when abort is closed, with the
// number of Send calls that returned (and of those that returned an error)
// by then. A Send that waits past the end is not counted and left waiting.
func sendFor(n *node.Node, port string, size int, d time.Duration, abort <-chan struct{}) (sent, errs int64) {
	var nSent, nErrs atomic.Int64
	var stop atomic.Bool
	send := sender(n)
	fill := make([]byte, size)
	rand.Read(fill)
	go func() {
		for !stop.Load() {
			p := make([]byte, size)
			copy(p, fill)
			if send(port, "x", p) != nil {
				nErrs.Add(1)
			}
			nSent.Add(1)
		}
	}()
	select {
	case <-clk.After(d):
	case <-abort:
	}
	stop.Store(true)
	return nSent.Load(), nErrs.Load()
}

// startNode starts a node in this process.
func startNode(nodeID string, binds ...string) *node.Node {
	n, err := node.Start(context.Background(), node.Config{ID: nodeID, Binds: binds, Secret: secret, Limits: limits()})
	if err != nil {
		log.Fatalf("start %s: %v", nodeID, err)
	}
	return n
}

// ---- attacks (the parent) ----

func idle(r result) {
	v := startChild("-id", "victim")
	clk.Sleep(2 * time.Second)
	v.stop(r)
}

func blockedPort(r result) {
	size := orDefault(*size, 32<<10)
	d := orDefault(*dur, 10*time.Second)
	v := startChild("-id", "victim", "-block")
	a := startNode("attacker")
	var drops atomic.Int64
	var over atomic.Bool // the window is over: the victim is stopping
	a.MonitorNodes(func(peer string, up bool, reason []any) {
		if !up && !over.Load() {
			drops.Add(1)
			log.Printf("blocked-port: link to %s down: %v", peer, reason)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.AddNode(ctx, v.addr); err != nil {
		log.Fatalf("attacker: AddNode: %v", err)
	}
	sent, errs := sendFor(a, v.port, size, d, nil)
	r.set("sent_mib", mib(sent*int64(size)))
	r.set("send_errs", errs)
	over.Store(true)
	r.set("link_drops", drops.Load())
	v.stop(r)
}

func deadNode(r result) {
	size := orDefault(*size, 64<<10)
	d := orDefault(*dur, 5*time.Second)
	t := startChild("-id", "target")
	s := startChild("-id", "sender", "-addnode", t.addr, "-sendto", t.port,
		"-size", strconv.Itoa(size), "-dur", d.String())
	t.kill()
	s.goThenResult(r)
}

func halfOpen(r result, greet bool) {
	v := startChild("-id", "victim")
	cs := make([]net.Conn, *conns)
	var wg sync.WaitGroup
	var dialErrs atomic.Int64
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < len(cs); i += 16 {
				c, err := net.Dial("tcp", v.addr)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				if greet {
					io.WriteString(c, greeting(fmt.Sprintf("half/%d", i)))
				}
				cs[i] = c
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	}()
	r.set("dial_errs", dialErrs.Load())
	clk.Sleep(3 * time.Second)
	r.set("alive", countAlive(cs))

	l := startNode("legit")
	start := clk.Now()
	attempts := 0
	for {
		attempts++
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := l.AddNode(ctx, v.addr)
		cancel()
		if attempts == 1 {
			r.set("first_ok", b2i(err == nil))
		}
		if err == nil {
			r.set("linked", 1)
			r.set("link_s", clk.Since(start).Seconds())
			break
		}
		if clk.Since(start) > *linkwait {
			r.set("linked", 0)
			r.set("link_s", clk.Since(start).Seconds())
			log.Printf("half-open: legit AddNode: %v", err)
			break
		}
		clk.Sleep(250 * time.Millisecond)
	}
	r.set("attempts", attempts)
	v.stop(r)
}

// countAlive reports how many of cs the peer has not closed: a read that
// times out rather than ending (what the peer sent is read and dropped).
func countAlive(cs []net.Conn) int {
	var alive atomic.Int64
	var wg sync.WaitGroup
	for _, c := range cs {
		if c == nil {
			continue
		}
		wg.Go(func() {
			c.SetReadDeadline(clk.Now().Add(500 * time.Millisecond))
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						alive.Add(1)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	return int(alive.Load())
}

func claimedID(r result) {
	b := startNode("b", "127.0.0.1:0")
	v := startChild("-id", "a", "-linkto", b.Addrs()[0], "-linkwait", linkwait.String())
	stop := make(chan struct{})
	var claims atomic.Int64
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		tick := clk.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if c, err := net.Dial("tcp", v.addr); err == nil {
				io.WriteString(c, greeting("b")+nonce())
				claims.Add(1)
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
			select {
			case <-tick.Chan():
			case <-stop:
				return
			}
		}
	}()
	clk.Sleep(1500 * time.Millisecond)
	v.goThenResult(r)
	close(stop)
	r.set("claims", claims.Load())
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
}

func idChurn(r result) {
	d := orDefault(*dur, 10*time.Second)
	v := startChild("-id", "victim")
	var made, errs atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				c, err := net.Dial("tcp", v.addr)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.WriteString(c, greeting(fmt.Sprintf("churn/%d-%d", w, i))+nonce())
				c.Close()
				made.Add(1)
			}
		})
	}
	clk.Sleep(d)
	stop.Store(true)
	wg.Wait()
	clk.Sleep(time.Second) // the victim finishes the last handshakes
	r.set("claims", made.Load())
	r.set("dial_errs", errs.Load())
	v.stop(r)
}

// greeting is a tether node's greeting line claiming nodeID.
func greeting(nodeID string) string {
	return "aemp;1;" + nodeID + ";hmac_sha3_512;msgpack,cbor,json;provider=tether-1;hb=10000,30000\n"
}

// nonce is a nonce line: base64 of 66 random bytes.
func nonce() string {
	b := make([]byte, 66)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b) + "\n"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- children ----

// A proc is a child process: it prints "ready addr=… port=…" once its node
// is up, takes "go" and "stop" on its stdin, and prints "result k=v…"
// before it exits.
type proc struct {
	cmd        *exec.Cmd
	in         io.WriteCloser
	lines      chan string
	addr, port string
}

var (
	childrenMu sync.Mutex
	children   []*proc
)

func startChild(args ...string) *proc {
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	args = append([]string{"-child", "-maxrss", strconv.FormatInt(*maxRSS, 10),
		"-sendqueue", strconv.Itoa(*sendQueue), "-localqueue", strconv.Itoa(*localQueue),
		"-maxframe", strconv.Itoa(*maxFrame), "-memprofile", *memprof}, args...)
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	p := &proc{cmd: cmd, in: in, lines: make(chan string, 16)}
	childrenMu.Lock()
	children = append(children, p)
	childrenMu.Unlock()
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	ready := p.expect("ready")
	p.addr, p.port = ready["addr"], ready["port"]
	return p
}

// expect returns the fields of the child's next line, which must start
// with word.
func (p *proc) expect(word string) map[string]string {
	line, ok := <-p.lines
	if !ok {
		err := p.cmd.Wait()
		log.Fatalf("child %v ended (%v) before %q", p.cmd.Args[1:], err, word)
	}
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != word {
		log.Fatalf("child %v: want %q, got %q", p.cmd.Args[1:], word, line)
	}
	kv := map[string]string{}
	for _, s := range f[1:] {
		k, v, _ := strings.Cut(s, "=")
		kv[k] = v
	}
	return kv
}

func (p *proc) command(c string) { io.WriteString(p.in, c+"\n") }

// stop asks the child for its figures and adds them to r.
func (p *proc) stop(r result) {
	p.command("stop")
	p.collect(r)
}

// goThenResult starts the child's own action and adds its figures to r.
func (p *proc) goThenResult(r result) {
	p.command("go")
	p.collect(r)
}

func (p *proc) collect(r result) {
	for k, v := range p.expect("result") {
		r[k] = v
	}
	p.in.Close()
	p.cmd.Wait()
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// killChildren kills the children still running.
func killChildren() {
	childrenMu.Lock()
	defer childrenMu.Unlock()
	for _, p := range children {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}
}

// runChild is a child's part: a node with a port, a memory sampler, and
// the action -addnode, -sendto and -linkto ask for.
func runChild() {
	s := startSampler()
	n := startNode(*id, "127.0.0.1:0")
	never := make(chan struct{})
	port := n.Port(func(*node.Context, []any) error {
		if *block {
			<-never
		}
		return nil
	})
	if *addNode != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := n.AddNode(ctx, *addNode); err != nil {
			log.Fatalf("%s: AddNode %s: %v", *id, *addNode, err)
		}
		cancel()
	}
	fmt.Printf("ready addr=%s port=%s\n", n.Addrs()[0], port)

	r := result{}
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds) // the parent is gone
	}()
	for {
		var c string
		select {
		case c = <-cmds:
		case <-s.capped:
			c = "stop"
		}
		switch {
		case c == "go" && *sendTo != "":
			size := orDefault(*size, 64<<10)
			sent, errs := sendFor(n, *sendTo, size, orDefault(*dur, 5*time.Second), s.capped)
			r.set("sent_msgs", sent)
			r.set("send_errs", errs)
			s.report(r)
			return
		case c == "go" && *linkTo != "":
			ctx, cancel := context.WithTimeout(context.Background(), *linkwait)
			start := clk.Now()
			_, err := n.AddNode(ctx, *linkTo)
			r.set("link_s", clk.Since(start).Seconds())
			r.set("linked", b2i(err == nil))
			if err != nil {
				log.Printf("claimed-id: AddNode: %v", err)
			}
			cancel()
			s.report(r)
			return
		case c == "stop":
			s.report(r)
			return
		case c == "":
			os.Exit(1)
		}
	}
}

// A sampler keeps the peaks of the process's HeapInuse and goroutines.
type sampler struct {
	start          time.Time
	mu             sync.Mutex
	cappedAfter    time.Duration
	heapPeak       uint64
	livePeak       uint64
	goroutinesPeak int
	capped         chan struct{} // closed when RSS passes -maxrss
	cappedOnce     sync.Once
}

func startSampler() *sampler {
	s := &sampler{start: clk.Now(), capped: make(chan struct{})}
	s.sample()
	go func() {
		tick := clk.NewTicker(50 * time.Millisecond)
		for range tick.Chan() {
			s.sample()
		}
	}()
	return s
}

func (s *sampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	g := runtime.NumGoroutine()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	rss := procStatus("VmRSS")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.heapPeak = max(s.heapPeak, ms.HeapInuse)
	if live[0].Value.Kind() == metrics.KindUint64 {
		s.livePeak = max(s.livePeak, live[0].Value.Uint64())
	}
	s.goroutinesPeak = max(s.goroutinesPeak, g)
	if rss > *maxRSS {
		s.cappedOnce.Do(func() { s.cappedAfter = clk.Since(s.start); close(s.capped) })
	}
}

// report prints the result line with the peaks, and the heap after a GC.
func (s *sampler) report(r result) {
	s.sample()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mu.Lock()
	r.set("hwm_mib", mib(procStatus("VmHWM")))
	r.set("heap_peak_mib", mib(int64(s.heapPeak)))
	r.set("heap_end_mib", mib(int64(ms.HeapInuse)))
	r.set("live_peak_mib", mib(int64(s.livePeak)))
	r.set("goroutines_peak", s.goroutinesPeak)
	if s.cappedAfter > 0 {
		r.set("capped", 1)
		r.set("capped_after_s", s.cappedAfter.Seconds())
	}
	s.mu.Unlock()
	if *memprof != "" {
		f, err := os.Create(*memprof + "." + strings.ReplaceAll(*id, "/", "_"))
		if err != nil {
			log.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	fmt.Println("result " + r.String())
}

// procStatus returns a "kB" field of /proc/self/status, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		log.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
