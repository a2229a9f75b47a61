package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// DMap sends one request per item to workers (item i to workers[i mod
// len(workers)]), each request being request(item) followed by a reply
// port, and gathers one reply per item, in the order of items. Each
// request is a Call of its own: a worker that dies fails only the items it
// had not answered, and the others go on.
//
// It returns every reply it got — nil for the items without one — and,
// if some items got none, a *DMapError that says which, with the workers
// that died and why, and ctx's error if ctx ended first.
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
		deaths  = make([]*KilledError, len(items))
		left    = len(items)
		done    = make(chan struct{})
	)
	// settle records the outcome of item i, once.
	settle := func(i int, reply []any, death *KilledError) {
		mu.Lock()
		defer mu.Unlock()
		if replies[i] != nil || deaths[i] != nil {
			return
		}
		replies[i], deaths[i] = reply, death
		if left--; left == 0 {
			close(done)
		}
	}
	var guards []Guard
	var replyPorts []string
	for i, it := range items {
		w := workers[i%len(workers)]
		reply := n.newPort(n.newName(), func(c *Context, msg []any) error {
			settle(i, msg, nil)
			c.Kill()
			return nil
		})
		replyPorts = append(replyPorts, reply.id)
		// As in Call: the monitor acts in the reply port's context, after a
		// reply that arrived before the worker's death.
		guards = append(guards, n.monitor(w, Func(func(reason []any) {
			settle(i, nil, &KilledError{Port: w, Reason: reason})
		}), reply))
		if err := n.Send(w, append(request(it), reply.id)...); err != nil {
			settle(i, nil, &KilledError{Port: w, Reason: []any{"not_sent", err.Error()}})
		}
	}
	var ctxErr error
	select {
	case <-done:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	case <-n.ctx.Done():
		ctxErr = ErrNodeClosed
	}
	for _, g := range guards {
		g.Stop()
	}
	for _, p := range replyPorts {
		n.Kill(p)
	}
	mu.Lock()
	defer mu.Unlock()
	out := make([][]any, len(items))
	copy(out, replies)
	var e DMapError
	for i := range items {
		if out[i] == nil {
			e.Items = append(e.Items, i)
			if d := deaths[i]; d != nil && !containsDeath(e.Dead, d.Port) {
				e.Dead = append(e.Dead, d)
			}
		}
	}
	if len(e.Items) == 0 {
		return out, nil
	}
	e.Total, e.Err = len(items), ctxErr
	return out, &e
}

func containsDeath(ds []*KilledError, port string) bool {
	for _, d := range ds {
		if d.Port == port {
			return true
		}
	}
	return false
}

// DMapError reports the items of a DMap that got no reply.
type DMapError struct {
	Items []int          // their indices, in order
	Total int            // how many items there were
	Dead  []*KilledError // the workers that died with requests outstanding, and why
	Err   error          // ctx's error (or ErrNodeClosed) if it ended the map
}

// Error returns "node: DMap: N of M items got no reply: worker W died: REASON; …".
func (e *DMapError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node: DMap: %d of %d items got no reply", len(e.Items), e.Total)
	for _, d := range e.Dead {
		fmt.Fprintf(&b, ": worker %s died: %s", d.Port, FormatReason(d.Reason))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns ctx's error, if ctx ended the map.
func (e *DMapError) Unwrap() error { return e.Err }
