package addr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
)

// echoRecords: three priority groups with assorted weights, including 0.
var echoRecords = []net.SRV{
	{Target: "a.example.test", Port: 7001, Priority: 10, Weight: 60},
	{Target: "b.example.test", Port: 7002, Priority: 10, Weight: 30},
	{Target: "c.example.test", Port: 7003, Priority: 10, Weight: 10},
	{Target: "d.example.test", Port: 7004, Priority: 10, Weight: 0},
	{Target: "e.example.test", Port: 7005, Priority: 20, Weight: 50},
	{Target: "f.example.test", Port: 7006, Priority: 20, Weight: 50},
	{Target: "g.example.test", Port: 7007, Priority: 30, Weight: 0},
}

func hostPort(r net.SRV) string { return fmt.Sprintf("%s:%d", r.Target, r.Port) }

// resolveN calls r.Resolve n times and returns the answers.
func resolveN(t *testing.T, r addr.Resolver[string], n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for i := range n {
		a, err := r.Resolve(context.Background())
		if err != nil {
			t.Fatalf("Resolve #%d: %v", i, err)
		}
		out = append(out, a)
	}
	return out
}

// isPermutation reports whether got holds exactly the elements of want.
func isPermutation(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

func newEchoSRV(z *testDNS, seed uint64) *addr.SRV {
	return &addr.SRV{Service: "echo", Proto: "tcp", Name: "example.test", Resolver: z.resolver(), Rand: clock.NewRand(seed)}
}

// Each cycle (as many calls as there are records) visits every target once,
// all of a better priority before any of a worse one, and the order within
// a priority varies from cycle to cycle.
func TestSRVCycleVisitsAllTargetsBestPriorityFirst(t *testing.T) {
	z := startDNS(t)
	z.setSRV("_echo._tcp.example.test", echoRecords...)
	prio := map[string]uint16{}
	var all []string
	for _, r := range echoRecords {
		prio[hostPort(r)] = r.Priority
		all = append(all, hostPort(r))
	}

	s := newEchoSRV(z, 1)
	const cycles = 40
	got := resolveN(t, s, cycles*len(all))
	orders := map[string]bool{}
	for c := range cycles {
		cyc := got[c*len(all) : (c+1)*len(all)]
		if !isPermutation(cyc, all) {
			t.Fatalf("cycle %d = %v, want every target once", c, cyc)
		}
		for i := 1; i < len(cyc); i++ {
			if prio[cyc[i]] < prio[cyc[i-1]] {
				t.Fatalf("cycle %d = %v: %s (priority %d) after %s (priority %d)",
					c, cyc, cyc[i], prio[cyc[i]], cyc[i-1], prio[cyc[i-1]])
			}
		}
		orders[strings.Join(cyc, " ")] = true
	}
	if len(orders) < 5 {
		t.Fatalf("only %d distinct orders in %d cycles: the order is not being redrawn", len(orders), cycles)
	}
}

// The first target of a fresh ordering is drawn in proportion to weight.
func TestSRVWeightBias(t *testing.T) {
	z := startDNS(t)
	z.setSRV("_w._tcp.example.test",
		net.SRV{Target: "heavy.example.test", Port: 1, Priority: 5, Weight: 90},
		net.SRV{Target: "light.example.test", Port: 2, Priority: 5, Weight: 10},
	)
	s := &addr.SRV{Service: "w", Proto: "tcp", Name: "example.test", Resolver: z.resolver(), Rand: clock.NewRand(7)}
	const cycles = 1000
	got := resolveN(t, s, 2*cycles)
	heavy := 0
	for c := range cycles {
		first, second := got[2*c], got[2*c+1]
		if first == second {
			t.Fatalf("cycle %d answered %s twice", c, first)
		}
		if first == "heavy.example.test:1" {
			heavy++
		}
	}
	// Expected 900 of 1000, standard deviation 9.5: the bounds are more
	// than 5 standard deviations away.
	if heavy < 850 || heavy > 950 {
		t.Fatalf("weight-90 target first in %d of %d cycles, want about 900", heavy, cycles)
	}
}

func TestSRVSameSeedSameSequence(t *testing.T) {
	z := startDNS(t)
	z.setSRV("_echo._tcp.example.test", echoRecords...)
	n := 20 * len(echoRecords)
	a, b := newEchoSRV(z, 42), newEchoSRV(z, 42)
	var got1, got2 []string
	for range n { // interleaved: the two must not share any state
		got1 = append(got1, resolveN(t, a, 1)...)
		got2 = append(got2, resolveN(t, b, 1)...)
	}
	if !slices.Equal(got1, got2) {
		t.Fatalf("same seed, different sequences:\n%v\n%v", got1, got2)
	}
}

func TestSRVDifferentSeedsDifferentSequence(t *testing.T) {
	z := startDNS(t)
	// Four equally weighted targets: each cycle is one of 24 orders, so 20
	// cycles agree by chance with probability 24^-20.
	var recs []net.SRV
	for i := range 4 {
		recs = append(recs, net.SRV{Target: fmt.Sprintf("n%d.example.test", i), Port: 7000, Priority: 1, Weight: 10})
	}
	z.setSRV("_eq._tcp.example.test", recs...)
	mk := func(seed uint64) *addr.SRV {
		return &addr.SRV{Service: "eq", Proto: "tcp", Name: "example.test", Resolver: z.resolver(), Rand: clock.NewRand(seed)}
	}
	if got1, got2 := resolveN(t, mk(1), 80), resolveN(t, mk(2), 80); slices.Equal(got1, got2) {
		t.Fatalf("seeds 1 and 2 gave the same 80 answers: %v", got1)
	}
}

// A nil Rand is a random seed: it still works and visits everything.
func TestSRVNilRand(t *testing.T) {
	z := startDNS(t)
	z.setSRV("_echo._tcp.example.test", echoRecords...)
	s := &addr.SRV{Service: "echo", Proto: "tcp", Name: "example.test", Resolver: z.resolver()}
	var all []string
	for _, r := range echoRecords {
		all = append(all, hostPort(r))
	}
	if got := resolveN(t, s, len(all)); !isPermutation(got, all) {
		t.Fatalf("one cycle = %v, want every target once", got)
	}
}

// A changed record set starts a fresh ordering at once, not at the end of
// the current cycle.
func TestSRVRecordSetChangeMidCycle(t *testing.T) {
	z := startDNS(t)
	recs := []net.SRV{
		{Target: "x.example.test", Port: 1, Priority: 1, Weight: 10},
		{Target: "y.example.test", Port: 1, Priority: 1, Weight: 10},
		{Target: "z.example.test", Port: 1, Priority: 1, Weight: 10},
	}
	z.setSRV("_chg._tcp.example.test", recs...)
	s := &addr.SRV{Service: "chg", Proto: "tcp", Name: "example.test", Resolver: z.resolver(), Rand: clock.NewRand(3)}

	first := resolveN(t, s, 1)[0]
	// Remove one of the two targets the current cycle still has to hand out.
	var kept []net.SRV
	var removed string
	for _, r := range recs {
		if hostPort(r) != first && removed == "" {
			removed = hostPort(r)
			continue
		}
		kept = append(kept, r)
	}
	z.setSRV("_chg._tcp.example.test", kept...)
	got := resolveN(t, s, 2)
	if slices.Contains(got, removed) {
		t.Fatalf("after removing %s, got %v: the old ordering was kept", removed, got)
	}
	if want := []string{hostPort(kept[0]), hostPort(kept[1])}; !isPermutation(got, want) {
		t.Fatalf("after the change got %v, want a fresh cycle over %v", got, want)
	}

	// A completely different set: the very next answer comes from it.
	z.setSRV("_chg._tcp.example.test",
		net.SRV{Target: "p.example.test", Port: 2, Priority: 1, Weight: 1},
		net.SRV{Target: "q.example.test", Port: 2, Priority: 1, Weight: 1},
	)
	if got := resolveN(t, s, 2); !isPermutation(got, []string{"p.example.test:2", "q.example.test:2"}) {
		t.Fatalf("after replacing the set got %v, want p and q", got)
	}
}

func TestSRVNXDOMAIN(t *testing.T) {
	z := startDNS(t)
	s := &addr.SRV{Service: "echo", Proto: "tcp", Name: "missing.test", Resolver: z.resolver(), Rand: clock.NewRand(1)}
	_, err := s.Resolve(context.Background())
	var ae *addr.Error
	if !errors.As(err, &ae) || ae.Resolver != "dns srv _echo._tcp.missing.test" {
		t.Fatalf("err = %#v, want *addr.Error for dns srv _echo._tcp.missing.test", err)
	}
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("err = %v, want a *net.DNSError with IsNotFound", err)
	}
	if !strings.HasPrefix(err.Error(), "addr: dns srv _echo._tcp.missing.test: ") {
		t.Fatalf("message %q", err)
	}
}

// Every target "." means the service is not offered at that domain.
func TestSRVServiceNotAvailable(t *testing.T) {
	z := startDNS(t)
	z.setSRV("_none._tcp.example.test", net.SRV{Target: ".", Port: 0, Priority: 0, Weight: 0})
	s := &addr.SRV{Service: "none", Proto: "tcp", Name: "example.test", Resolver: z.resolver(), Rand: clock.NewRand(1)}
	if _, err := s.Resolve(context.Background()); !errors.Is(err, addr.ErrNoAddresses) {
		t.Fatalf("err = %v, want ErrNoAddresses", err)
	}
}

func TestSRVContextAlreadyCancelled(t *testing.T) {
	z := startDNS(t)
	z.setSRV("_echo._tcp.example.test", echoRecords...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newEchoSRV(z, 1).Resolve(ctx)
	var ae *addr.Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *addr.Error wrapping context.Canceled", err)
	}
	if n := z.queries.Load(); n != 0 {
		t.Fatalf("%d queries sent with a cancelled context", n)
	}
}

// Cancelling while the server sits on the query ends Resolve at once with
// an error that wraps context.Canceled. The resolver's connections ignore
// deadlines and the server answers only after Resolve has returned, so an
// SRV that waited for the lookup would hang here.
func TestSRVCancelDuringLookup(t *testing.T) {
	z := startDNS(t)
	s := &addr.SRV{Service: "slow", Proto: "tcp", Name: "example.test", Resolver: z.noDeadlineResolver(), Rand: clock.NewRand(1)}
	err := z.cancelDuringLookup(t, "_slow._tcp.example.test", func(ctx context.Context) error { _, err := s.Resolve(ctx); return err })
	var ae *addr.Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || ae.Resolver != "dns srv _slow._tcp.example.test" {
		t.Fatalf("err = %v, want *addr.Error wrapping context.Canceled", err)
	}
}
