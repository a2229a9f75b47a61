package node_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node"
	"github.com/tetherkit/tether/test/sim"
)

// The registry converges, over the simulated network, whatever the faults.
//
// Five nodes: two seeds, g1 and g2, each in its own seed list (so both are
// global), and a, b, c, seeded with both. Each node monitors the family
// "svc" and replays what its monitor reports (added, changed, deleted) into
// a view of its own. A schedule drawn from the seed registers ports
// (DBReg) and kills them, sets and deletes keys that several nodes share
// (DBSet, DBDel), partitions pairs of hosts both ways and one way, resets
// their connections, and restarts the globals. After each heal, and time
// for the links to come back, every node's replayed view, its monitor's
// entries and a query (DBFamily) must be exactly the entries of the live
// nodes (a shared key: the smallest value of those that hold it), and
// every report must have been consistent with the view it changed (no key
// added twice, deleted when absent, or changed to the same value).
func TestSimRegistryConvergence(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 20
	}
	var checks, reports int
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			cfg := sim.Config{Seed: seed, Latency: sim.Latency{Min: time.Millisecond, Max: 20 * time.Millisecond}}
			sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
				c, r := simRegistry(t, n, seed)
				checks += c
				reports += r
			})
		})
	}
	t.Logf("%d seeds: %d views checked after heals, %d monitor reports", seeds, checks, reports)
}

// simView is a node's monitor of "svc", replayed.
type simView struct {
	mu      sync.Mutex
	replay  map[string]any
	entries map[string]any // the monitor's own view, as last reported
	reports int
	errs    []string
}

func (v *simView) report(c node.DBChange) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reports++
	if v.replay == nil {
		v.replay = map[string]any{}
	}
	for _, k := range c.Deleted {
		if _, ok := v.replay[k]; !ok {
			v.errs = append(v.errs, fmt.Sprintf("deleted %s, which was not there", k))
		}
		delete(v.replay, k)
	}
	for _, k := range c.Added {
		if _, ok := v.replay[k]; ok {
			v.errs = append(v.errs, fmt.Sprintf("added %s, which was there", k))
		}
		v.replay[k] = c.Entries[k]
	}
	for _, k := range c.Changed {
		if old, ok := v.replay[k]; !ok || reflect.DeepEqual(old, c.Entries[k]) {
			v.errs = append(v.errs, fmt.Sprintf("changed %s from %v (present %v) to %v", k, old, ok, c.Entries[k]))
		}
		v.replay[k] = c.Entries[k]
	}
	v.entries = maps.Clone(c.Entries)
}

func simRegistry(t *testing.T, n *sim.Network, seed uint64) (checks, reports int) {
	r := n.Rand("schedule")
	opts := simOpts{
		seeds:     []string{"g1:4000", "g2:4000"},
		heartbeat: 5 * time.Second,
		hbTimeout: 15 * time.Second,
		connect:   time.Second,
		coalesce:  true,
	}
	ids := []string{"g1", "g2", "a", "b", "c"}
	c := newSimCluster(t, n, opts, ids...)
	defer c.close()
	views := map[string]*simView{}
	own := map[string]map[string]int64{} // per node: what its current run owns
	ports := map[string][]string{}       // per node: its registered ports
	watch := func(id string) {
		v := &simView{}
		views[id] = v
		own[id] = map[string]int64{}
		ports[id] = nil
		if _, err := c.node(id).DBMon("svc", v.report); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		watch(id)
	}
	var log []string
	logf := func(format string, args ...any) {
		log = append(log, fmt.Sprintf("%v ", n.Clock().Now().Format("05.000"))+fmt.Sprintf(format, args...))
	}
	pick := func(from []string) string { return from[r.IntN(len(from))] }
	for round := range 3 {
		for range 12 {
			id := pick(ids)
			nd := c.node(id)
			switch x := r.IntN(10); {
			case x < 3:
				p := nd.Port(nil)
				v := int64(r.IntN(5))
				if _, err := nd.DBReg("svc", p, v); err != nil {
					t.Fatal(err)
				}
				own[id][p] = v
				ports[id] = append(ports[id], p)
				logf("%s registers %s = %d", id, p, v)
			case x < 4 && len(ports[id]) > 0:
				i := r.IntN(len(ports[id]))
				p := ports[id][i]
				ports[id] = slices.Delete(ports[id], i, i+1)
				nd.Kill(p)
				delete(own[id], p)
				logf("%s kills %s", id, p)
			case x < 5:
				k := fmt.Sprintf("shared%d", r.IntN(3))
				v := int64(r.IntN(5))
				nd.DBSet("svc", k, v)
				own[id][k] = v
				logf("%s sets %s = %d", id, k, v)
			case x < 6:
				k := fmt.Sprintf("shared%d", r.IntN(3))
				nd.DBDel("svc", k)
				delete(own[id], k)
				logf("%s deletes %s", id, k)
			case x < 7:
				o := pick(ids)
				if o != id {
					if r.IntN(2) == 0 {
						n.Partition(id, o)
						logf("partition %s %s", id, o)
					} else {
						n.PartitionOneWay(id, o)
						logf("partition %s -> %s", id, o)
					}
				}
			case x < 8:
				if o := pick(ids); o != id {
					n.Reset(id, o)
					logf("reset %s %s", id, o)
				}
			case x < 9 && (id == "g1" || id == "g2"):
				nd.Close(context.Background())
				c.start(id, opts)
				watch(id)
				logf("%s restarts", id)
			default:
				d := time.Duration(r.IntN(3000)) * time.Millisecond
				simSettle(n, d)
			}
		}
		n.HealAll()
		logf("heal")
		// Time for dead links to be noticed (heartbeats), seeds to be
		// redialled (their backoff reaches 30 s) and a dead global's
		// entries to expire.
		simSettle(n, 90*time.Second)
		want := map[string]any{}
		for _, id := range ids {
			for k, v := range own[id] {
				if old, ok := want[k]; !ok || v < old.(int64) {
					want[k] = v
				}
			}
		}
		for _, id := range ids {
			v := views[id]
			v.mu.Lock()
			replay, entries, errs := maps.Clone(v.replay), v.entries, v.errs
			v.mu.Unlock()
			ctx, cancel := clock.WithTimeout(context.Background(), n.Clock(), 10*time.Second)
			fam, err := c.node(id).DBFamily(ctx, "svc")
			cancel()
			switch {
			case len(errs) > 0:
				t.Errorf("round %d: %s's monitor reported inconsistently: %v", round, id, errs)
			case !reflect.DeepEqual(replay, want):
				t.Errorf("round %d: %s's monitor replays to\n%v\nwant\n%v", round, id, replay, want)
			case !reflect.DeepEqual(entries, want):
				t.Errorf("round %d: %s's monitor entries\n%v\nwant\n%v", round, id, entries, want)
			case err != nil || !reflect.DeepEqual(fam, want):
				t.Errorf("round %d: %s: DBFamily = %v, %v; want %v", round, id, fam, err, want)
			}
			checks++
		}
		if t.Failed() {
			for _, l := range log {
				t.Log(l)
			}
			return checks, reports
		}
	}
	for _, v := range views {
		reports += v.reports
	}
	return checks, reports
}
