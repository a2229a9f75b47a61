package node

import (
	"context"
	"fmt"
	"sync"
)

// DMap sends one request per item to workers (item i to workers[i mod
// len(workers)]), each request being request(item) followed by a reply
// port, and gathers one reply per item, in the order of items. It fails if
// ctx ends first, or as soon as a worker with a request outstanding dies —
// the error names the worker and the reason.
func (n *Node) DMap(ctx context.Context, workers []string, items []any, request func(item any) []any) ([][]any, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if len(workers) == 0 {
		return nil, fmt.Errorf("node: DMap with no workers")
	}
	var (
		mu      sync.Mutex
		replies = make([][]any, len(items))
		left    = len(items)
		pending = make(map[string]int, len(workers)) // worker → requests outstanding
		done    = make(chan error, 1)
	)
	finish := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	var guards []Guard
	var replyPorts []string
	for _, w := range workers {
		w := w
		guards = append(guards, n.Monitor(w, Func(func(reason []any) {
			mu.Lock()
			outstanding := pending[w]
			mu.Unlock()
			if outstanding > 0 {
				finish(fmt.Errorf("node: DMap worker %s died with %d requests outstanding: %s", w, outstanding, FormatReason(reason)))
			}
		})))
	}
	for i, it := range items {
		w := workers[i%len(workers)]
		reply := n.newPort(n.newName(), func(c *Context, msg []any) error {
			mu.Lock()
			if replies[i] == nil {
				replies[i] = msg
				left--
				pending[w]--
			}
			last := left == 0
			mu.Unlock()
			c.Kill()
			if last {
				finish(nil)
			}
			return nil
		})
		replyPorts = append(replyPorts, reply.id)
		mu.Lock()
		pending[w]++
		mu.Unlock()
		n.Send(w, append(request(it), reply.id)...)
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("node: DMap: %w", ctx.Err())
	}
	for _, g := range guards {
		g.Stop()
	}
	for _, p := range replyPorts {
		n.Kill(p)
	}
	if err != nil {
		return nil, err
	}
	return replies, nil
}
