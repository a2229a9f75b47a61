package addr

import (
	"cmp"
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tetherkit/tether/clock"
)

// SRV is a resolver for a service published in DNS SRV records (RFC 2782):
// it answers "host:port" strings for the targets of _Service._Proto.Name,
// trying every target in turn, best priority first.
//
// Fill in the fields and call Resolve; do not change them afterwards, and do
// not copy an SRV after first use. An SRV is safe for concurrent use.
//
// # Order of answers
//
// Each Resolve looks the records up afresh; nothing is cached between calls
// (the Go resolver does not cache either; a system resolver may), so DNS
// changes take effect on the next call. The records are sorted canonically
// (priority, target, port, weight) and, once per cycle, put into an RFC 2782
// order drawn from Rand: priority groups lowest first; within a group a
// weighted random selection in which each record is picked next with
// probability proportional to its weight, and weight-0 records, taken in
// random order, share the chance 1/(sum of weights + 1) at each step (all of
// it when every remaining weight is 0). The SRV keeps a cursor into that
// order and returns the next target on each call, so repeated calls visit
// every target. When the cursor runs off the end, or a lookup returns a
// record set different from the one the order was built from, a fresh order
// is drawn and answers start again from its head.
//
// Because the standard library's LookupSRV shuffles with an unseedable source,
// SRV discards its order and uses only Rand: with the same seed and the same
// DNS answers, two SRVs give the same sequence of answers.
//
// # Errors
//
// Resolve returns an [*Error] naming the resolver ("dns srv
// _echo._tcp.example.test"). A failed lookup wraps the *net.DNSError, so
// errors.As finds it and its IsNotFound reports NXDOMAIN. If ctx is already
// done the error wraps ctx.Err(); if it ends during the lookup, Resolve
// returns at once with that error and the abandoned query runs out in the
// background (until the resolver's own timeout). If every record
// has the target "." (the service is decidedly not available) the error wraps
// [ErrNoAddresses]. When the response mixes valid records with malformed
// ones, the net package drops the malformed ones and reports an error; SRV
// uses the valid records and ignores that error.
type SRV struct {
	// Service and Proto name the service, without leading underscores:
	// "echo" and "tcp" look up _echo._tcp.Name. If both are empty, Name is
	// looked up as it is.
	Service, Proto string
	// Name is the domain the service lives in.
	Name string
	// Resolver does the lookups; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Rand orders targets of equal priority; nil means
	// clock.NewRand(clock.RandomSeed()), drawn on first use. Pass a stream of
	// the program's root Rand, such as root.Derive("addr"), for a
	// reproducible order.
	Rand *clock.Rand

	mu    sync.Mutex
	rand  *clock.Rand
	cycle cycle[net.SRV]
}

// Resolve looks up the SRV records and returns the next target of the
// current cycle as "host:port", the host without its trailing dot. See
// [SRV] for the order of answers and the errors.
func (s *SRV) Resolve(ctx context.Context) (string, error) {
	name := "dns srv " + s.domain()
	if err := ctxError(ctx, name); err != nil {
		return "", err
	}
	recs, err := lookup(ctx, func(ctx context.Context) ([]*net.SRV, error) {
		_, recs, err := netResolver(s.Resolver).LookupSRV(ctx, s.Service, s.Proto, s.Name)
		return recs, err
	})
	if err != nil && (len(recs) == 0 || ctx.Err() != nil) {
		return "", lookupError(ctx, name, err)
	}
	set := canonicalSRV(recs)
	if len(set) == 0 {
		return "", &Error{Resolver: name, Err: ErrNoAddresses}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rand == nil {
		s.rand = s.Rand
		if s.rand == nil {
			s.rand = clock.NewRand(clock.RandomSeed())
		}
	}
	rec := s.cycle.advance(set, func() []net.SRV { return orderSRV(set, s.rand) })
	return net.JoinHostPort(rec.Target, strconv.Itoa(int(rec.Port))), nil
}

// domain returns the name LookupSRV queries.
func (s *SRV) domain() string {
	if s.Service == "" && s.Proto == "" {
		return s.Name
	}
	return "_" + s.Service + "._" + s.Proto + "." + s.Name
}

// canonicalSRV returns the usable records of recs, targets without their
// trailing dot, sorted by priority, target, port and weight, duplicates
// removed. Records with the target "." (service not available) are dropped.
func canonicalSRV(recs []*net.SRV) []net.SRV {
	set := make([]net.SRV, 0, len(recs))
	for _, r := range recs {
		if r == nil {
			continue
		}
		rec := *r
		rec.Target = strings.TrimSuffix(rec.Target, ".")
		if rec.Target == "" {
			continue
		}
		set = append(set, rec)
	}
	slices.SortFunc(set, func(a, b net.SRV) int {
		return cmp.Or(
			cmp.Compare(a.Priority, b.Priority),
			strings.Compare(a.Target, b.Target),
			cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Weight, b.Weight),
		)
	})
	return slices.Compact(set)
}

// orderSRV returns an RFC 2782 order of set, which must be sorted by
// priority first (as canonicalSRV sorts it), drawing from r. Its draws
// depend only on set, so the same r state gives the same order.
func orderSRV(set []net.SRV, r *clock.Rand) []net.SRV {
	out := make([]net.SRV, 0, len(set))
	for len(set) > 0 {
		n := 1
		for n < len(set) && set[n].Priority == set[0].Priority {
			n++
		}
		out = appendWeighted(out, set[:n], r)
		set = set[n:]
	}
	return out
}

// appendWeighted appends group, records of one priority, to out in the
// order of RFC 2782's weighted selection.
//
// The RFC puts the weight-0 records first (in any order: here a random one),
// draws x uniformly from [0, sum of weights] and picks the first record whose
// running sum of weights reaches x, which gives the first weight-0 record the
// chance 1/(sum+1). When no weight-0 record is left, x is drawn from [1, sum]
// instead, so that the choice is exactly proportional to weight rather than
// favouring the first record by one part in sum+1.
func appendWeighted(out, group []net.SRV, r *clock.Rand) []net.SRV {
	pending := make([]net.SRV, 0, len(group))
	sum := 0
	for _, rec := range group {
		if rec.Weight == 0 {
			pending = append(pending, rec)
		}
	}
	zeros := len(pending)
	r.Shuffle(zeros, func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	for _, rec := range group {
		if rec.Weight != 0 {
			pending = append(pending, rec)
			sum += int(rec.Weight)
		}
	}

	for len(pending) > 0 {
		pick := 0 // sum == 0: only weight-0 records remain, already shuffled
		if sum > 0 {
			lo := 1
			if zeros > 0 {
				lo = 0
			}
			x := lo + r.IntN(sum+1-lo)
			run := 0
			for i, rec := range pending {
				run += int(rec.Weight)
				if run >= x {
					pick = i
					break
				}
			}
		}
		rec := pending[pick]
		out = append(out, rec)
		sum -= int(rec.Weight)
		if rec.Weight == 0 {
			zeros--
		}
		pending = slices.Delete(pending, pick, pick+1)
	}
	return out
}
