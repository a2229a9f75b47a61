package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// samples collects one goroutine's latencies.
type samples []time.Duration

// percentiles merges sample sets and returns the nearest-rank p50 and p99
// in microseconds: sorted[ceil(p·n)−1].
func percentiles(sets ...samples) (p50, p99 float64) {
	var all []time.Duration
	for _, s := range sets {
		all = append(all, s...)
	}
	if len(all) == 0 {
		return -1, -1
	}
	slices.Sort(all)
	at := func(p float64) float64 {
		i := max(int(math.Ceil(p*float64(len(all))))-1, 0)
		return float64(all[i]) / float64(time.Microsecond)
	}
	return at(0.50), at(0.99)
}

// line prints one figure in the peer harness's format: fixed keys peer,
// suite, workload, ops_per_s, then p50_us p99_us when measured, n, dur_s,
// then extra key=value pairs.
func line(peer, workload string, n int64, elapsed time.Duration, p50, p99 float64, extra ...string) {
	var b strings.Builder
	rate := 0.0
	if elapsed > 0 {
		rate = float64(n) / elapsed.Seconds()
	}
	fmt.Fprintf(&b, "peer=%s suite=rpc workload=%s ops_per_s=%.0f", peer, workload, rate)
	if p50 >= 0 {
		fmt.Fprintf(&b, " p50_us=%.1f p99_us=%.1f", p50, p99)
	}
	fmt.Fprintf(&b, " n=%d dur_s=%.2f", n, elapsed.Seconds())
	for _, e := range extra {
		b.WriteString(" " + e)
	}
	fmt.Println(b.String())
}

func fail(peer, workload string, err error) {
	fmt.Printf("peer=%s suite=rpc workload=%s error=%q\n", peer, workload, err.Error())
	fmt.Fprintf(os.Stderr, "rpcbench: %s: %v\n", workload, err)
}
