package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/persistent"
	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/test/sim"
)

// The drain and retry cases again, on the simulated network, for seeds
// 1–20: latencies drawn per seed, the fake clock, the same trace for the
// same seed.

const simSeeds = 20

// simReplica serves who (answering name) on host:7000 of n.
func simReplica(t *testing.T, n *sim.Network, host string, cfg rpc.Config) *rpc.Server {
	t.Helper()
	hs := cfg.Handlers
	if hs == nil {
		hs = echoHandlers(nil)
	}
	who.Implement(hs, func(context.Context, struct{}) (string, error) { return host, nil })
	cfg.Handlers = hs
	cfg.Clock = n.Clock()
	s, err := rpc.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := n.Host(host).Listen(":7000")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.Close(ctx)
		<-done
	})
	return s
}

func simClient(t *testing.T, n *sim.Network, cfg rpc.ClientConfig) *rpc.Client {
	t.Helper()
	cfg.ServerName = "who"
	cfg.Dial = n.Host("client").DialContext
	cfg.Clock = n.Clock()
	cfg.Rand = n.Rand("client")
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = persistent.Constant(50 * time.Millisecond)
	}
	c, err := rpc.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.Close(ctx)
	})
	return c
}

// A replica that closes gracefully while 16 callers call fails no call:
// the calls it refuses as closing go to the other replica.
func TestSimDrainFailsNoCall(t *testing.T) {
	for seed := uint64(1); seed <= simSeeds; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			sim.Test(t, sim.Config{Seed: seed, Latency: sim.Latency{Min: 100 * time.Microsecond, Max: 3 * time.Millisecond}}, func(t *testing.T, n *sim.Network) {
				s1 := simReplica(t, n, "s1", rpc.Config{})
				simReplica(t, n, "s2", rpc.Config{})
				c := simClient(t, n, rpc.ClientConfig{Resolver: addr.NewList("s1:7000", "s2:7000")})
				var served [2]atomic.Int64
				var failed atomic.Int64
				var firstErr atomic.Value
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
							}
							ctx, cancel := clock.WithTimeout(context.Background(), n.Clock(), 10*time.Second)
							name, err := who.Call(ctx, c, struct{}{})
							cancel()
							switch {
							case err != nil:
								failed.Add(1)
								firstErr.CompareAndSwap(nil, err.Error())
							case name == "s1":
								served[0].Add(1)
							default:
								served[1].Add(1)
							}
						}
					})
				}
				n.Clock().Sleep(time.Second)
				ctx, cancel := clock.WithTimeout(context.Background(), n.Clock(), 5*time.Second)
				if err := s1.Close(ctx); err != nil {
					t.Errorf("graceful close of s1 = %v", err)
				}
				cancel()
				before := served[1].Load()
				n.Clock().Sleep(time.Second)
				close(stop)
				wg.Wait()
				if failed.Load() > 0 {
					t.Fatalf("%d calls failed, the first with %v", failed.Load(), firstErr.Load())
				}
				if served[0].Load() == 0 || served[1].Load() == before {
					t.Fatalf("s1 served %d calls, s2 %d of them after s1 closed: want both", served[0].Load(), served[1].Load()-before)
				}
			})
		})
	}
}

var flaky = rpc.NewMethod[string, int]("flaky", 1)

// The retry policy of an idempotent method: attempts with backoff on the
// client's clock, within the context, for the classes it names; other
// methods and classes are not retried.
func TestSimRetryPolicy(t *testing.T) {
	for seed := uint64(1); seed <= simSeeds; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			sim.Test(t, sim.Config{Seed: seed, Latency: sim.Latency{Min: time.Millisecond, Max: time.Millisecond}}, func(t *testing.T, n *sim.Network) {
				var mu sync.Mutex
				attempts := map[string][]time.Duration{}
				start := n.Clock().Now()
				var hs rpc.Handlers
				flaky.Implement(&hs, func(_ context.Context, key string) (int, error) {
					mu.Lock()
					attempts[key] = append(attempts[key], n.Clock().Since(start))
					k := len(attempts[key])
					mu.Unlock()
					switch {
					case key == "plain":
						return 0, errors.New("no class")
					case k < 3:
						return 0, rpc.WithClass(errors.New("not yet"), rpc.Unavailable)
					}
					return k, nil
				})
				simReplica(t, n, "s1", rpc.Config{Handlers: &hs})
				retrying := simClient(t, n, rpc.ClientConfig{Resolver: addr.Static("s1:7000"),
					Retry: map[string]rpc.RetryPolicy{"flaky": {MaxAttempts: 3}}})
				ctx := context.Background()

				if got, err := flaky.Call(ctx, retrying, "a"); err != nil || got != 3 {
					t.Fatalf("call = %d, %v; want success at the third attempt", got, err)
				}
				// 50 ms and then 100 ms, each ±20%, plus 2 ms of round trip.
				a := attempts["a"]
				if d1, d2 := a[1]-a[0], a[2]-a[1]; d1 < 42*time.Millisecond || d1 > 62*time.Millisecond || d2 < 82*time.Millisecond || d2 > 122*time.Millisecond {
					t.Fatalf("attempts at %v: gaps %v and %v, want 50 and 100 ms ±20%% (+2 ms)", a, d1, d2)
				}
				// A class the policy does not name fails at once.
				if _, err := flaky.Call(ctx, retrying, "plain"); rpc.ClassOf(err) != rpc.Unknown || len(attempts["plain"]) != 1 {
					t.Fatalf("unretryable call = %v after %d attempts", err, len(attempts["plain"]))
				}
				// A context too short for the next delay ends the retries.
				short, cancel := clock.WithTimeout(ctx, n.Clock(), 30*time.Millisecond)
				defer cancel()
				if _, err := flaky.Call(short, retrying, "b"); rpc.ClassOf(err) != rpc.Unavailable || len(attempts["b"]) != 1 {
					t.Fatalf("call with 30 ms = %v after %d attempts, want Unavailable after 1", err, len(attempts["b"]))
				}
				// Without a policy, no retry.
				plain := simClient(t, n, rpc.ClientConfig{Resolver: addr.Static("s1:7000")})
				if _, err := flaky.Call(ctx, plain, "c"); rpc.ClassOf(err) != rpc.Unavailable || len(attempts["c"]) != 1 {
					t.Fatalf("call without a policy = %v after %d attempts", err, len(attempts["c"]))
				}
			})
		})
	}
}

// A connection reset under calls: the idempotent method's calls are
// retried on the next connection and all succeed.
func TestSimRetryAcrossAReset(t *testing.T) {
	for seed := uint64(1); seed <= simSeeds; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			sim.Test(t, sim.Config{Seed: seed, Latency: sim.Latency{Min: 100 * time.Microsecond, Max: 2 * time.Millisecond}}, func(t *testing.T, n *sim.Network) {
				simReplica(t, n, "s1", rpc.Config{})
				c := simClient(t, n, rpc.ClientConfig{Resolver: addr.Static("s1:7000"), RetryDelay: persistent.Constant(20 * time.Millisecond),
					Retry: map[string]rpc.RetryPolicy{"who": {MaxAttempts: 4}}})
				n.After(100*time.Millisecond, func() { n.Reset("client", "s1") })
				var wg sync.WaitGroup
				var failed atomic.Int64
				var firstErr atomic.Value
				for range 8 {
					wg.Go(func() {
						for range 20 {
							ctx, cancel := clock.WithTimeout(context.Background(), n.Clock(), 10*time.Second)
							_, err := who.Call(ctx, c, struct{}{})
							cancel()
							if err != nil {
								failed.Add(1)
								firstErr.CompareAndSwap(nil, err.Error())
							}
							n.Clock().Sleep(10 * time.Millisecond)
						}
					})
				}
				wg.Wait()
				if failed.Load() > 0 {
					t.Fatalf("%d calls failed, the first with %v", failed.Load(), firstErr.Load())
				}
			})
		})
	}
}
