// ratios reads a results file of the peer benchmark harness (one
// "peer=… suite=… workload=… ops_per_s=… [p50_us=… p99_us=…] …" line per
// figure and round) and prints tether's figures as ratios to the peers'
// measured in the same run, against the project's targets.
//
//	go run ./ratios /tmp/peerbench/results-<stamp>.txt
package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
)

// figure is the median over rounds of one peer's workload.
type figure struct{ ops, p50 float64 }

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
	ops := map[string][]float64{}
	p50 := map[string][]float64{}
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
		if v, err := strconv.ParseFloat(kv["ops_per_s"], 64); err == nil {
			ops[key] = append(ops[key], v)
		}
		if v, err := strconv.ParseFloat(kv["p50_us"], 64); err == nil {
			p50[key] = append(p50[key], v)
		}
	}
	// A workload is "suite/name": tether runs "oneway" in rpc and in msg.
	get := func(peer, workload string) (figure, bool) {
		k := peer + " " + strings.Replace(workload, "/", " ", 1)
		if len(ops[k]) == 0 {
			return figure{}, false
		}
		return figure{ops: median(ops[k]), p50: median(p50[k])}, true
	}

	fmt.Println("# ratios, same run (medians over rounds)")
	fmt.Printf("# %-30s %-28s %10s %10s %8s  %s\n", "ours", "against", "ours", "theirs", "ratio", "target")
	row := func(ours, oursWl, theirs, theirsWl, what string, lowerIsBetter bool, target float64) {
		a, ok1 := get(ours, oursWl)
		b, ok2 := get(theirs, theirsWl)
		if !ok1 || !ok2 {
			return
		}
		x, y := a.ops, b.ops
		if what == "p50" {
			x, y = a.p50, b.p50
		}
		r := x / y
		verdict := ""
		if target > 0 {
			met := r >= target
			cmp := "≥"
			if lowerIsBetter {
				met, cmp = r <= target, "≤"
			}
			verdict = fmt.Sprintf("%s %.3g× %s", cmp, target, map[bool]string{true: "met", false: "MISSED"}[met])
		}
		fmt.Printf("# %-30s %-28s %10.4g %10.4g %7.2f×  %s\n",
			ours+" "+short(oursWl, what), theirs+" "+short(theirsWl, what), x, y, r, verdict)
	}
	for _, ours := range []string{"tether", "tether-reflect"} {
		row(ours, "rpc/unary_c64", "grpc", "rpc/unary_c64", "ops", false, 5)
		row(ours, "rpc/stream", "grpc", "rpc/stream", "ops", false, 2)
		row(ours, "rpc/unary_c1", "tcp", "floor/pingpong", "p50", true, 1.3)
		row(ours, "rpc/unary_c1", "grpc", "rpc/unary_c1", "ops", false, 0)
		for _, p := range []string{"netrpc", "nats"} {
			row(ours, "rpc/unary_c64", p, "rpc/unary_c64", "ops", false, 0)
			row(ours, "rpc/stream", p, "rpc/stream", "ops", false, 0)
		}
		if f, ok := get(ours, "rpc/oneway"); ok {
			fmt.Printf("# %-30s %-28s %10.4g %10s %8s  reported\n", ours+" rpc/oneway", "(messages/s at the receiver)", f.ops, "", "")
		}
	}
	// rpc with a stats handler and an interceptor at both ends, against
	// the same without: within 5% (issue 11).
	row("tether-hooks", "rpc/unary_c1", "tether", "rpc/unary_c1", "ops", false, 0.95)
	row("tether-hooks", "rpc/unary_c1", "tether", "rpc/unary_c1", "p50", true, 1.05)
	row("tether-hooks", "rpc/unary_c64", "tether", "rpc/unary_c64", "ops", false, 0.95)
	row("tether-hooks", "rpc/stream", "tether", "rpc/stream", "ops", false, 0.95)
	// Nodes: A sends to a port on B (suite msg).
	row("tether", "msg/oneway", "erlang", "msg/oneway", "ops", false, 10)
	row("tether", "msg/oneway", "nats", "msg/oneway", "ops", false, 2)
	row("tether", "msg/oneway", "ergo", "msg/oneway", "ops", false, 0)
	row("tether", "msg/oneway", "ergo3", "msg/oneway", "ops", false, 0)
	row("tether", "msg/pingpong", "tcp", "floor/pingpong", "p50", true, 1.3)
	for _, p := range []string{"erlang", "nats", "ergo", "ergo3"} {
		row("tether", "msg/pingpong", p, "msg/pingpong", "p50", true, 0)
	}
}

func short(workload, what string) string {
	if what == "p50" {
		return workload + " p50"
	}
	return workload
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
