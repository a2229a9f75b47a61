package main

import (
	"fmt"
	"strings"
)

// table prints one N's results side by side, with the ratio of the first
// side to the second where both are measured.
func table(rs []result) {
	if len(rs) == 0 {
		return
	}
	r0 := rs[0]
	fmt.Printf("# N = %d: %d links over %d processes\n", r0.n, r0.links, *procs)
	head := fmt.Sprintf("# %-44s", "")
	for _, r := range rs {
		head += fmt.Sprintf(" %14s", r.impl)
	}
	if len(rs) == 2 {
		head += fmt.Sprintf(" %8s", "ratio")
	}
	fmt.Println(head)
	kib := func(v float64) string { return fmt.Sprintf("%.1f KiB", v/1024) }
	us := func(v float64) string { return fmt.Sprintf("%.1f µs", v/1000) }
	rows := []struct {
		name string
		get  func(result) float64
		show func(float64) string
	}{
		{"time to mesh", func(r result) float64 { return r.mesh.Seconds() }, func(v float64) string { return fmt.Sprintf("%.2f s", v) }},
		{"heap per link (both ends)", func(r result) float64 { return r.heap }, kib},
		{"goroutine stacks per link (both ends)", func(r result) float64 { return r.stack }, kib},
		{"RSS per link (both ends)", func(r result) float64 { return r.rss }, kib},
		{"goroutines per link (both ends)", func(r result) float64 { return r.goroutines }, func(v float64) string { return fmt.Sprintf("%.2f", v) }},
		{fmt.Sprintf("idle CPU, %% of a core (%s)", *idle), func(r result) float64 { return 100 * r.idleCPU }, func(v float64) string { return fmt.Sprintf("%.2f %%", v) }},
		{"ping-pong idle p50", func(r result) float64 { return r.pingIdle[0] * 1000 }, us},
		{"ping-pong idle p99", func(r result) float64 { return r.pingIdle[1] * 1000 }, us},
		{"unpaced spread: msgs/s", func(r result) float64 { return r.unpaced }, rate},
		{"unpaced: CPU per msg", func(r result) float64 { return r.unpacedCPU }, us},
		{"unpaced: msgs per write(2)", func(r result) float64 { return r.unpacedWrite }, func(v float64) string { return fmt.Sprintf("%.1f", v) }},
		{"heap per link after the burst", func(r result) float64 { return r.heapAfter }, kib},
		{fmt.Sprintf("paced %s msgs/s: counted msgs/s", strings.TrimSuffix(rate(*paceRate), "/s")), func(r result) float64 { return r.paced }, rate},
		{"paced: CPU per msg", func(r result) float64 { return r.pacedCPU }, us},
		{"paced: CPU per msg, less the idle CPU", func(r result) float64 { return r.pacedCPU - r.idleCPU*1e9/r.paced }, us},
		{"paced: msgs per write(2)", func(r result) float64 { return r.pacedWrite }, func(v float64) string { return fmt.Sprintf("%.2f", v) }},
		{"ping-pong under paced load p50", func(r result) float64 { return r.pingLoad[0] * 1000 }, us},
		{"ping-pong under paced load p99", func(r result) float64 { return r.pingLoad[1] * 1000 }, us},
	}
	for _, row := range rows {
		line := fmt.Sprintf("# %-44s", row.name)
		for _, r := range rs {
			line += fmt.Sprintf(" %14s", row.show(row.get(r)))
		}
		if len(rs) == 2 {
			if a, b := row.get(rs[0]), row.get(rs[1]); b > 0 && a > 0 {
				line += fmt.Sprintf(" %7.2f×", a/b)
			}
		}
		fmt.Println(line)
	}
	fmt.Println()
}

// rate formats messages per second.
func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k/s", v/1e3)
	}
	return fmt.Sprintf("%.0f /s", v)
}
