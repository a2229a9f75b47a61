package measure

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Rec collects per-operation latencies (nanoseconds) for one goroutine.
type Rec struct{ ns []int64 }

// NewRec returns a recorder with room for capHint samples.
func NewRec(capHint int) *Rec { return &Rec{ns: make([]int64, 0, capHint)} }

// Add records one latency.
func (r *Rec) Add(d time.Duration) { r.ns = append(r.ns, int64(d)) }

// Pcts merges recorders and returns p50 and p99 in microseconds
// (nearest-rank percentiles) plus the number of samples.
func Pcts(recs ...*Rec) (p50, p99 float64, n int) {
	var all []int64
	for _, r := range recs {
		all = append(all, r.ns...)
	}
	if len(all) == 0 {
		return -1, -1, 0
	}
	slices.Sort(all)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(all)))) - 1
		if i < 0 {
			i = 0
		}
		return float64(all[i]) / 1e3
	}
	return q(0.50), q(0.99), len(all)
}

// Result is one printed figure.
type Result struct {
	Peer, Suite, Workload string
	Ops                   int64         // completed operations in the measured window
	Elapsed               time.Duration // measured window
	P50, P99              float64       // microseconds; < 0 means not measured
	Extra                 []string      // extra key=value fields
}

// Line renders the machine-readable line:
// peer=... suite=... workload=... ops_per_s=... [p50_us=... p99_us=...] n=... dur_s=... [extra]
func (r Result) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "peer=%s suite=%s workload=%s", r.Peer, r.Suite, r.Workload)
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Ops) / r.Elapsed.Seconds()
	}
	fmt.Fprintf(&b, " ops_per_s=%.0f", rate)
	if r.P50 >= 0 {
		fmt.Fprintf(&b, " p50_us=%.1f p99_us=%.1f", r.P50, r.P99)
	}
	fmt.Fprintf(&b, " n=%d dur_s=%.2f", r.Ops, r.Elapsed.Seconds())
	for _, e := range r.Extra {
		b.WriteByte(' ')
		b.WriteString(e)
	}
	return b.String()
}

// Print writes the line to stdout.
func (r Result) Print() { fmt.Println(r.Line()) }

// Fail prints a machine-readable error line for a workload that could not run.
func Fail(peer, suite, workload string, err error) {
	msg := strings.ReplaceAll(fmt.Sprint(err), "\"", "'")
	fmt.Printf("peer=%s suite=%s workload=%s error=\"%s\"\n", peer, suite, workload, msg)
}
