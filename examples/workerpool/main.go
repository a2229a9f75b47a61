// Command workerpool runs a pool of workers on several tether nodes, found
// through the registry, on loopback.
//
//	go run ./examples/workerpool
//
// A seed node holds the registry. Three worker nodes each register two
// worker ports in the family "squarers" (DBReg: an entry that goes when
// its port dies). The master node knows none of them: it watches the
// family (DBMon), keeps the workers it reports, and hands out jobs to them
// in turn with Call — reaching each worker's node by its ID, through the
// seed. Halfway, one worker node is shut down: its workers die, their
// registrations go, the monitor reports them gone, and the master gives
// their jobs to the others. Every job is done exactly once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

const (
	secret = "example secret"
	family = "squarers"
	jobs   = 24
)

// start starts a node on loopback, seeded at seed ("" for the seed itself).
func start(ctx context.Context, id, seed string) (*node.Node, error) {
	cfg := node.Config{ID: id, Binds: []string{"127.0.0.1:0"}, Secret: secret}
	if seed != "" {
		cfg.Seeds = []string{seed}
	}
	return node.Start(ctx, cfg)
}

// squarer is a worker port: ["square", N, REPLY] → N*N, after a moment's
// work.
func squarer(n *node.Node) string {
	p := n.Port(nil)
	n.Rcv(p, "square", func(c *node.Context, msg []any) error {
		x, reply := msg[0].(int64), msg[1].(string)
		n.AfterFunc(10*time.Millisecond, c.Wrap(func(c *node.Context) { c.Send(reply, x*x, c.Self()) }))
		return nil
	})
	return p
}

// pool is the workers the master knows of, kept up to date by its monitor.
type pool struct {
	mu      sync.Mutex
	workers []string
	next    int
	changed chan struct{} // closed and replaced on every change
}

func (p *pool) update(c node.DBChange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.workers = slices.Sorted(func(yield func(string) bool) {
		for w := range c.Entries {
			if !yield(w) {
				return
			}
		}
	})
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait waits until the pool has at least n workers.
func (p *pool) wait(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		ch, have := p.changed, len(p.workers)
		p.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pick returns the next worker in turn, waiting for one if there is none.
func (p *pool) pick(ctx context.Context) (string, error) {
	if err := p.wait(ctx, 1); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.workers) == 0 { // gone again meanwhile
		return "", fmt.Errorf("no workers")
	}
	w := p.workers[p.next%len(p.workers)]
	p.next++
	return w, nil
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := clock.WithTimeout(ctx, clock.Real(), 30*time.Second)
	defer cancel()
	var closers []*node.Node
	defer func() {
		for _, n := range slices.Backward(closers) {
			n.Close(context.Background())
		}
	}()

	seed, err := start(ctx, "seed", "")
	if err != nil {
		return err
	}
	closers = append(closers, seed)
	var workers []*node.Node
	for i := range 3 {
		w, err := start(ctx, fmt.Sprintf("worker%d", i+1), seed.Addrs()[0])
		if err != nil {
			return err
		}
		closers = append(closers, w)
		workers = append(workers, w)
		for range 2 {
			if _, err := w.DBReg(family, squarer(w), nil); err != nil {
				return err
			}
		}
	}
	master, err := start(ctx, "master", seed.Addrs()[0])
	if err != nil {
		return err
	}
	closers = append(closers, master)

	p := &pool{changed: make(chan struct{})}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	g, err := master.DBMon(family, func(c node.DBChange) {
		p.update(c)
		if len(c.Deleted) > 0 {
			say("master: %d workers gone, %d left", len(c.Deleted), len(c.Entries))
		}
	})
	if err != nil {
		return err
	}
	defer g.Stop()
	// The workers may still be registering.
	if err := p.wait(ctx, 6); err != nil {
		return err
	}
	say("master: found 6 workers through the registry")

	// The jobs, four at a time; a job whose worker dies goes to another.
	results := make([]int64, jobs)
	byNode := map[string]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range jobs {
		if i == jobs/2 {
			wg.Wait()
			say("worker2: shutting down")
			workers[1].Close(ctx)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for {
				w, err := p.pick(ctx)
				if err != nil {
					if ctx.Err() != nil {
						say("job %d: %v", i, err)
						return
					}
					continue
				}
				reply, err := master.Call(ctx, w, "square", int64(i))
				var killed *node.KilledError
				if errors.As(err, &killed) {
					continue // the worker died: another one takes the job
				}
				if err != nil {
					say("job %d: %v", i, err)
					return
				}
				mu.Lock()
				results[i] = reply[0].(int64)
				byNode[node.NodeOf(reply[1].(string))]++
				mu.Unlock()
				return
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r != int64(i*i) {
			return fmt.Errorf("job %d: got %d, want %d", i, r, i*i)
		}
	}
	say("master: all %d jobs done: worker1 %d, worker2 %d, worker3 %d",
		jobs, byNode["worker1"], byNode["worker2"], byNode["worker3"])
	return nil
}
