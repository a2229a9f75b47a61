package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
)

// tetherMesh is this process's share of the nodes as tether nodes with
// their default configuration (heartbeats every 10 s): each has a sink
// port that counts "bench" messages and an echo port that answers "ping"
// with "pong", as nodebench's ports do.
type tetherMesh struct {
	first   int
	nodes   []*node.Node
	replies []string        // per local node: the port pongs come back to
	pongs   []chan struct{} // per local node: a pong arrived
	all     []endpoint
	changed chan struct{} // a link came up somewhere
}

// payload is boxed once, as a sender that reuses its buffer would.
var payload any = []byte("abcdefghijklmnop")

func (m *tetherMesh) start(first, count, n int, counted func()) ([]endpoint, error) {
	m.first = first
	m.changed = make(chan struct{}, 1)
	eps := make([]endpoint, count)
	for li := range count {
		nd, err := node.Start(context.Background(), node.Config{
			ID:     fmt.Sprintf("mesh-%03d", first+li),
			Binds:  []string{"127.0.0.1:0"},
			Secret: "mesh",
		})
		if err != nil {
			return nil, err
		}
		m.nodes = append(m.nodes, nd)
		sink := nd.Port(nil)
		nd.Rcv(sink, "bench", func(*node.Context, []any) error { counted(); return nil })
		echo := nd.Port(nil)
		nd.Rcv(echo, "ping", func(c *node.Context, msg []any) error {
			c.Send(msg[2].(string), "pong", msg[0], msg[1])
			return nil
		})
		pong := make(chan struct{}, 1)
		reply := nd.Port(nil)
		nd.Rcv(reply, "pong", func(*node.Context, []any) error { pong <- struct{}{}; return nil })
		m.replies, m.pongs = append(m.replies, reply), append(m.pongs, pong)
		nd.MonitorNodes(func(_ string, up bool, _ []any) {
			if up {
				select {
				case m.changed <- struct{}{}:
				default:
				}
			}
		})
		eps[li] = endpoint{Addr: nd.Addrs()[0], Sink: sink, Echo: echo}
	}
	return eps, nil
}

func (m *tetherMesh) link(ctx context.Context, all []endpoint, parallel int) error {
	m.all = all
	sem := make(chan struct{}, parallel)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for li, nd := range m.nodes {
		for j := m.first + li + 1; j < len(all); j++ {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if _, err := nd.AddNode(ctx, all[j].Addr); err != nil {
					select {
					case errs <- fmt.Errorf("node %d → %d: %w", m.first+li, j, err):
					default:
					}
				}
			})
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	// The links this worker's nodes accepted may still be coming up: look
	// again when one does, and every 100 ms in case Nodes lags the event.
	t := clk.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		for _, nd := range m.nodes {
			if len(nd.Nodes()) < len(all)-1 {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-m.changed:
		case <-t.Chan():
		case <-ctx.Done():
			return fmt.Errorf("links still missing: %w", ctx.Err())
		}
	}
}

func (m *tetherMesh) send(li, j int, seq int64, _ bool) {
	m.nodes[li].Send(m.all[j].Sink, "bench", seq, payload)
}

func (m *tetherMesh) flush(int) {}

func (m *tetherMesh) ping(ctx context.Context, li, j int, seq int64) error {
	m.nodes[li].Send(m.all[j].Echo, "ping", seq, payload, m.replies[li])
	select {
	case <-m.pongs[li]:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no pong: %w", ctx.Err())
	}
}

func (m *tetherMesh) close() {
	ctx, cancel := clock.WithTimeout(context.Background(), clk, 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, nd := range m.nodes {
		wg.Go(func() { nd.Close(ctx) })
	}
	wg.Wait()
}
