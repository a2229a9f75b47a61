// ratios reads a results file of run.sh (one "peer=… suite=… workload=…
// ops_per_s=… [p50_us=… p99_us=…] …" line per figure and round) and prints
// tether's figures as ratios to the peers' measured in the same run,
// against the project's targets: the median over rounds of each side, the
// ratio of the medians, and each round's own ratio.
//
//	go run ./ratios /tmp/tetherbench/results-<stamp>.txt
package main

import (
	"bufio"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// results holds each figure's value by round, by "peer suite workload
// figure" (figure: ops, p50 or p99).
type results map[string]map[int]float64

func main() {
	log.SetFlags(0)
	if len(os.Args) != 2 {
		log.Fatal("usage: ratios RESULTS-FILE")
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := read(f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("# ratios, same run: medians over rounds (and each round's own ratio)")
	fmt.Printf("# %-36s %-26s %9s %9s %7s  %-16s %s\n", "tether", "against", "tether", "theirs", "ratio", "target", "rounds")
	for _, r := range rows {
		res.print(r)
	}
	if v := res.get("tether rpc/oneway ops"); len(v) > 0 {
		fmt.Printf("# %-36s %-26s %9s\n", "tether rpc/oneway", "(messages/s, reported)", human("ops", median(values(v))))
	}
}

// row is one line of the table: a figure of ours against one of a peer.
type row struct {
	ours, theirs string // "peer suite/workload figure"
	atMost       bool   // lower is better: the target is a ceiling
	target       float64
}

// rows are the targets of the project's issues 3, 4 and 12, then figures
// reported for reference (target 0).
var rows = []row{
	{"tether rpc/unary_c1 p50", "tcp floor/pingpong p50", true, 1.5},
	{"tether rpc/unary_c1 p99", "tcp floor/pingpong p99", true, 0},
	{"tether msg/pingpong p50", "tcp floor/pingpong p50", true, 1.5},
	{"tether msg/pingpong p99", "tcp floor/pingpong p99", true, 0},
	// The same with both processes pinned (run.sh's section "placed"):
	// on one CPU, and on two.
	{"tether rpc/unary_c1@1cpu p50", "tcp floor/pingpong@1cpu p50", true, 1.5},
	{"tether rpc/unary_c1@1cpu p99", "tcp floor/pingpong@1cpu p99", true, 0},
	{"tether msg/pingpong@1cpu p50", "tcp floor/pingpong@1cpu p50", true, 1.5},
	{"tether msg/pingpong@1cpu p99", "tcp floor/pingpong@1cpu p99", true, 0},
	{"tether rpc/unary_c1@2cpu p50", "tcp floor/pingpong@2cpu p50", true, 1.5},
	{"tether rpc/unary_c1@2cpu p99", "tcp floor/pingpong@2cpu p99", true, 0},
	{"tether msg/pingpong@2cpu p50", "tcp floor/pingpong@2cpu p50", true, 1.5},
	{"tether msg/pingpong@2cpu p99", "tcp floor/pingpong@2cpu p99", true, 0},
	{"tether rpc/unary_c64 ops", "grpc rpc/unary_c64 ops", false, 7},
	{"tether rpc/stream ops", "grpc rpc/stream ops", false, 3},
	{"tether msg/oneway ops", "nats msg/oneway ops", false, 2.5},
	{"tether msg/oneway ops", "erlang msg/oneway ops", false, 15},

	{"tether rpc/unary_c1 ops", "grpc rpc/unary_c1 ops", false, 0},
	{"tether rpc/unary_c1 ops", "netrpc rpc/unary_c1 ops", false, 0},
	{"tether rpc/unary_c64 ops", "netrpc rpc/unary_c64 ops", false, 0},
	{"tether rpc/unary_c64 ops", "nats rpc/unary_c64 ops", false, 0},
	{"tether rpc/stream ops", "netrpc rpc/stream ops", false, 0},
	{"tether rpc/stream ops", "nats rpc/stream ops", false, 0},
	{"tether msg/pingpong p50", "erlang msg/pingpong p50", true, 0},
	{"tether msg/pingpong p50", "nats msg/pingpong p50", true, 0},
	{"tether-reflect rpc/unary_c1 p50", "tcp floor/pingpong p50", true, 0},
	{"tether-reflect rpc/unary_c64 ops", "grpc rpc/unary_c64 ops", false, 0},
	{"tether-reflect rpc/stream ops", "grpc rpc/stream ops", false, 0},

	// rpc with a stats handler and an interceptor at both ends, against
	// the same without: within 5% (issue 11).
	{"tether-hooks rpc/unary_c1 ops", "tether rpc/unary_c1 ops", false, 0.95},
	{"tether-hooks rpc/unary_c1 p50", "tether rpc/unary_c1 p50", true, 1.05},
	{"tether-hooks rpc/unary_c1@1cpu p50", "tether rpc/unary_c1@1cpu p50", true, 1.05},
	{"tether-hooks rpc/unary_c1@2cpu p50", "tether rpc/unary_c1@2cpu p50", true, 1.05},
	{"tether-hooks rpc/unary_c64 ops", "tether rpc/unary_c64 ops", false, 0.95},
	{"tether-hooks rpc/stream ops", "tether rpc/stream ops", false, 0.95},
}

// quietFloorUs is the most the TCP floor's ping-pong p50 may read in a
// round for that round's latency ratios to count: it reads 20–25 µs on a
// quiet machine, and two to four times that when the machine is busy.
// Pinned on two CPUs it pays two cross-CPU wake-ups a round trip and
// reads 70–90 µs on a quiet 2-core VM, so its bound is quietFloor2CPUUs.
const (
	quietFloorUs     = 30.0
	quietFloor2CPUUs = 100.0
)

// read parses the result lines; lines with an error, and other lines, are
// skipped. A line without a round= key (run.sh adds it) is round 1.
func read(f *os.File) (results, error) {
	res := results{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kv := map[string]string{}
		for _, field := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(field, "="); ok {
				kv[k] = v
			}
		}
		if kv["peer"] == "" || kv["error"] != "" {
			continue
		}
		key := kv["peer"] + " " + kv["suite"] + " " + kv["workload"]
		round := 1
		if r, err := strconv.Atoi(kv["round"]); err == nil {
			round = r
		}
		for fig, name := range map[string]string{"ops": "ops_per_s", "p50": "p50_us", "p99": "p99_us"} {
			if v, err := strconv.ParseFloat(kv[name], 64); err == nil {
				k := key + " " + fig
				if res[k] == nil {
					res[k] = map[int]float64{}
				}
				res[k][round] = v
			}
		}
	}
	return res, sc.Err()
}

// get returns the values by round of "peer suite/workload figure".
func (res results) get(fig string) map[int]float64 {
	return res[strings.Replace(fig, "/", " ", 1)]
}

func (res results) print(r row) {
	a, b := res.get(r.ours), res.get(r.theirs)
	if len(a) == 0 || len(b) == 0 {
		return
	}
	ratio := median(values(a)) / median(values(b))
	verdict := ""
	if r.target > 0 {
		judged, note := ratio, ""
		if strings.HasPrefix(r.theirs, "tcp floor/pingpong") {
			// A ratio to the floor says something only where the floor
			// itself was quiet: judge by those rounds alone.
			bound := quietFloorUs
			if strings.Contains(r.theirs, "@2cpu") {
				bound = quietFloor2CPUUs
			}
			var quiet []float64
			for i, y := range b {
				if x, ok := a[i]; ok && y <= bound {
					quiet = append(quiet, x/y)
				}
			}
			if len(quiet) == 0 {
				verdict = fmt.Sprintf("floor > %.0f µs: not judged", bound)
			}
			if len(quiet) < len(a) {
				judged, note = median(quiet), fmt.Sprintf(" (%.2f× in %d quiet)", median(quiet), len(quiet))
			}
		}
		if verdict == "" {
			met, cmp := judged >= r.target, "≥"
			if r.atMost {
				met, cmp = judged <= r.target, "≤"
			}
			verdict = fmt.Sprintf("%s %.3g× %s%s", cmp, r.target, map[bool]string{true: "met", false: "MISSED"}[met], note)
		}
	}
	var rounds []string
	for _, i := range slices.Sorted(maps.Keys(a)) {
		if y, ok := b[i]; ok {
			rounds = append(rounds, fmt.Sprintf("%.2f", a[i]/y))
		}
	}
	fmt.Printf("# %-36s %-26s %9s %9s %6.2f×  %-16s  %s\n", r.ours, r.theirs,
		human(r.ours, median(values(a))), human(r.theirs, median(values(b))), ratio, verdict, strings.Join(rounds, " / "))
}

// human formats a figure's value: latencies in µs, rates in k or M per second.
func human(fig string, v float64) string {
	switch {
	case !strings.HasSuffix(fig, "ops"):
		return fmt.Sprintf("%.1fµs", v)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// values returns the values of all rounds.
func values(byRound map[int]float64) []float64 {
	return slices.Collect(maps.Values(byRound))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
