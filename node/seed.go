package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
	"github.com/tetherkit/tether/persistent"
)

// Seeds. A node keeps a link to each of its seeds (Config.Seeds): a
// persistent connection per seed address, resolved on every attempt, that
// retries with AnyEvent::MP's seeding backoff — about 0.6–1.2 s at first,
// doubling up to 30 s — until it is linked to the node there, and again
// whenever that link goes down. The greeting of a seed names it: a seed
// that is this node makes it global (and is not dialled again); any other
// is a candidate master, asked to be global (a bare g_slave).

// Seeding backoff: AnyEvent::MP's (1+rand)·0.6 s, doubling up to its
// monitor_timeout of 30 s.
const (
	seedFirstDelay = 900 * time.Millisecond
	seedJitter     = 1.0 / 3
	seedMaxDelay   = 30 * time.Second
)

// startSeeds starts the persistent connections to the seeds.
func (n *Node) startSeeds() {
	n.seedIDs = make([]string, len(n.cfg.Seeds))
	for i, a := range n.cfg.Seeds {
		pc, err := persistent.New(persistent.Config[string, *conn]{
			ServerName: "seed " + a,
			Resolver:   addr.Static(a),
			Connect:    func(ctx context.Context, a string) (*conn, error) { return n.connectSeed(ctx, i, a) },
			RetryDelay: persistent.Exponential(&backoff.ExponentialBackOff{
				InitialInterval: seedFirstDelay,
				Multiplier:      2,
				MaxInterval:     seedMaxDelay,
			}),
			Jitter: seedJitter,
			Clock:  n.clk,
			Rand:   n.rand.Derive("seed/" + a),
			Logger: n.cfg.Logger,
		})
		if err != nil {
			panic(err) // the config above is always valid
		}
		n.seeders = append(n.seeders, pc)
	}
}

// connectSeed is one attempt to link to the seed of that rank at address
// a. It returns the link's connection, whoever made it.
func (n *Node) connectSeed(ctx context.Context, rank int, a string) (*conn, error) {
	n.mu.Lock()
	id := n.seedIDs[rank]
	n.mu.Unlock()
	if id != "" {
		if c := n.linkTo(id, false).current(); c != nil {
			return c, nil // linked already
		}
	}
	l, err := n.dialNode(ctx, a, "", 0, nil)
	if l != nil {
		n.mu.Lock()
		n.seedIDs[rank] = l.peer
		n.mu.Unlock()
		if g := n.global; g != nil {
			g.seed(l.peer, rank)
		}
	}
	if errors.Is(err, aemp.ErrSelfConnect) {
		if g := n.global; g != nil {
			g.becomeGlobal()
		}
		if at, ok := persistent.AttemptFrom(ctx); ok {
			at.Abort(fmt.Errorf("seed %s is this node", a))
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if c := l.current(); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("the link to %s went down at once", l.peer)
}

// A global node keeps a link to every other global it knows of (the
// registry's Keep effects): it monitors the node, which makes the link
// connect, and when the monitor fires it monitors again after a delay —
// 1 s after a link that was up went down, doubling up to 30 s while
// connecting keeps failing.
type keeper struct {
	node  string
	delay time.Duration
	guard Guard
	timer clock.Timer
}

const (
	keepFirstDelay = time.Second
	keepMaxDelay   = 30 * time.Second
)

// keepLinked starts (on) or stops keeping a link to node.
func (n *Node) keepLinked(node string, on bool) {
	n.keepMu.Lock()
	defer n.keepMu.Unlock()
	k := n.keepers[node]
	switch {
	case on && k == nil && !n.closing():
		k = &keeper{node: node}
		n.keepers[node] = k
		n.watchKept(k)
	case !on && k != nil:
		delete(n.keepers, node)
		k.stop()
	}
}

func (k *keeper) stop() {
	k.guard.Stop()
	if k.timer != nil {
		k.timer.Stop()
	}
}

// watchKept monitors k's node. keepMu is held.
func (n *Node) watchKept(k *keeper) {
	k.guard = n.monitorNode(k.node, &monitor{action: Func(func(reason []any) { n.keptLost(k, reason) })})
}

// keptLost schedules the next attempt to link to k's node.
func (n *Node) keptLost(k *keeper, reason []any) {
	n.keepMu.Lock()
	defer n.keepMu.Unlock()
	if n.keepers[k.node] != k || n.closing() {
		return
	}
	if len(reason) > 2 && (reason[2] == textConnectTimeout || reason[2] == textNoAddress) {
		k.delay = min(max(2*k.delay, keepFirstDelay), keepMaxDelay)
	} else {
		k.delay = keepFirstDelay
	}
	k.timer = n.clk.AfterFunc(n.rand.Jitter(k.delay, seedJitter), func() {
		n.keepMu.Lock()
		defer n.keepMu.Unlock()
		if n.keepers[k.node] == k && !n.closing() {
			n.watchKept(k)
		}
	})
}

// stopKeeping stops every keeper; the node is closing.
func (n *Node) stopKeeping() {
	n.keepMu.Lock()
	defer n.keepMu.Unlock()
	for node, k := range n.keepers {
		k.stop()
		delete(n.keepers, node)
	}
}
