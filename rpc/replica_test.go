package rpc_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/rpc"
)

// Replicas in separate processes: the test binary runs itself with
// replicaEnv set to "NAME@ADDRESS", serves who and echo there, says
// "listening" on stdout, and on SIGTERM closes its server gracefully and
// exits.
const replicaEnv = "TETHER_RPC_TEST_REPLICA"

func runReplica(spec string) {
	name, address, _ := strings.Cut(spec, "@")
	hs := echoHandlers(nil)
	who.Implement(hs, func(context.Context, struct{}) (string, error) { return name, nil })
	s, err := rpc.NewServer(rpc.Config{Handlers: hs, Identification: name})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", address)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	fmt.Println("listening")
	select {
	case <-term:
	case err := <-served:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// replicaProc is a replica process.
type replicaProc struct {
	t    *testing.T
	name string
	addr string
	cmd  *exec.Cmd
	done chan error
}

// startReplicaProc starts replica name on address (host:port) and waits
// until it listens.
func startReplicaProc(t *testing.T, name, address string) *replicaProc {
	t.Helper()
	p := &replicaProc{t: t, name: name, addr: address}
	p.start()
	t.Cleanup(func() {
		if p.cmd != nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *replicaProc) start() {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// GORACE: a race-enabled binary otherwise sleeps a second on exit.
	cmd.Env = append(os.Environ(), replicaEnv+"="+p.name+"@"+p.addr, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "listening\n" {
		cmd.Process.Kill()
		cmd.Wait()
		p.t.Fatalf("replica %s: %q, %v", p.name, line, err)
	}
	p.cmd, p.done = cmd, make(chan error, 1)
	go func() { p.done <- cmd.Wait() }()
}

// stop sends sig and waits for the process to exit; after SIGTERM it must
// exit cleanly.
func (p *replicaProc) stop(sig syscall.Signal) {
	p.t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		if sig == syscall.SIGTERM && err != nil {
			p.t.Fatalf("replica %s after SIGTERM: %v", p.name, err)
		}
	case <-patient(p.t).Done():
		p.t.Fatalf("replica %s did not exit after %v", p.name, sig)
	}
	p.cmd = nil
}

// freeAddress returns a loopback address nothing listens on now.
func freeAddress(t *testing.T) string { return deadAddress(t) }

// callers makes calls of who on c from n goroutines until stop is closed,
// counting answers by replica and failures.
type callers struct {
	mu       sync.Mutex
	byName   map[string]int
	failures []error
	total    atomic.Int64
	progress chan struct{} // signalled after each call
	wg       sync.WaitGroup
	stop     chan struct{}
}

func startCallers(t *testing.T, c rpc.Caller, n int) *callers {
	cs := &callers{byName: map[string]int{}, stop: make(chan struct{}), progress: make(chan struct{}, 1)}
	for range n {
		cs.wg.Go(func() {
			for {
				select {
				case <-cs.stop:
					return
				default:
				}
				ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), patience)
				name, err := who.Call(ctx, c, struct{}{})
				cancel()
				cs.mu.Lock()
				if err != nil {
					cs.failures = append(cs.failures, err)
				} else {
					cs.byName[name]++
				}
				cs.mu.Unlock()
				cs.total.Add(1)
				select {
				case cs.progress <- struct{}{}:
				default:
				}
			}
		})
	}
	t.Cleanup(cs.finish)
	return cs
}

func (cs *callers) finish() {
	select {
	case <-cs.stop:
	default:
		close(cs.stop)
	}
	cs.wg.Wait()
}

// counts returns the answers by replica since the last call, and the
// failures so far.
func (cs *callers) counts() (map[string]int, []error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	by := cs.byName
	cs.byName = map[string]int{}
	return by, cs.failures
}

// waitServedBy waits until replica name has answered at least n calls
// since the last counts.
func (cs *callers) waitServedBy(t *testing.T, name string, n int) {
	t.Helper()
	ctx := patient(t)
	got := 0
	for got < n {
		by, failures := cs.counts()
		got += by[name]
		if len(failures) > 0 {
			t.Fatalf("%d calls failed, the first with %v", len(failures), failures[0])
		}
		if got < n {
			select {
			case <-cs.progress:
			case <-ctx.Done():
				t.Fatalf("replica %s answered %d calls, want %d", name, got, n)
			}
		}
	}
}

// SIGTERM to one of two replica processes under 64 concurrent callers fails
// no call: the replica drains (it refuses the calls that reach it once it
// is closing, and the client sends them elsewhere), and 20 times over.
func TestDrainFailsNoCall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startReplicaProc(t, "a", freeAddress(t))
	b := startReplicaProc(t, "b", freeAddress(t))
	c, _ := newClient(t, rpc.ClientConfig{ServerName: "who", Resolver: addr.NewList(a.addr, b.addr),
		RetryDelay: persistent.Constant(10 * time.Millisecond)})
	cs := startCallers(t, c, 64)
	serving, idle := a, b
	cs.waitServedBy(t, serving.name, 100)
	for round := range 20 {
		serving.stop(syscall.SIGTERM)
		cs.waitServedBy(t, idle.name, 100)
		serving.start() // back, idle, for the next round
		serving, idle = idle, serving
		if _, failures := cs.counts(); len(failures) > 0 {
			t.Fatalf("round %d: %d calls failed, the first with %v", round, len(failures), failures[0])
		}
	}
	cs.finish()
	if _, failures := cs.counts(); len(failures) > 0 {
		t.Fatalf("%d calls failed, the first with %v", len(failures), failures[0])
	}
	t.Logf("%d calls, 20 replicas drained, 0 failed", cs.total.Load())
}

// A client over three replica processes spreads calls over all three; when
// one is killed the others take its calls (the idempotent method's retry
// policy covers the calls it had under way); when it is back it gets calls
// again.
func TestBalancingOverThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	a := startReplicaProc(t, "a", freeAddress(t))
	b := startReplicaProc(t, "b", freeAddress(t))
	c := startReplicaProc(t, "c", freeAddress(t))
	client, _ := newClient(t, rpc.ClientConfig{ServerName: "who", Resolver: addr.NewList(a.addr, b.addr, c.addr),
		Replicas: 3, RetryDelay: persistent.Constant(10 * time.Millisecond),
		Retry: map[string]rpc.RetryPolicy{"who": {MaxAttempts: 5}}})
	cs := startCallers(t, client, 16)
	for _, r := range []*replicaProc{a, b, c} {
		cs.waitServedBy(t, r.name, 200)
	}

	b.stop(syscall.SIGKILL)
	cs.counts()
	cs.waitServedBy(t, "a", 500)
	cs.waitServedBy(t, "c", 500)
	// A caller may have had b's answer in hand when b died, and counted
	// it after the reset: one per caller at most.
	if by, _ := cs.counts(); by["b"] > 16 {
		t.Fatalf("the killed replica answered %d calls", by["b"])
	}

	b.start()
	cs.waitServedBy(t, "b", 200)
	cs.finish()
	if _, failures := cs.counts(); len(failures) > 0 {
		t.Fatalf("%d calls failed, the first with %v", len(failures), failures[0])
	}
}
