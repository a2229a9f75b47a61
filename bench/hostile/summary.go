package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// summarize reads result lines (those starting "attack=") and prints, per
// attack and figure, the median and range of each label's runs, labels in
// the order they first appear: a Markdown table.
func summarize(file string, w io.Writer) error {
	var in io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	type key struct{ attack, tree, figure string }
	vals := map[key][]float64{}
	var attacks, trees []string
	figures := map[string][]string{} // per attack
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "attack=") {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		a, t := kv["attack"], kv["tree"]
		if !slices.Contains(attacks, a) {
			attacks = append(attacks, a)
		}
		if !slices.Contains(trees, t) {
			trees = append(trees, t)
		}
		for k, v := range kv {
			x, err := strconv.ParseFloat(v, 64)
			if k == "attack" || k == "tree" || err != nil {
				continue
			}
			if !slices.Contains(figures[a], k) {
				figures[a] = append(figures[a], k)
			}
			vals[key{a, t, k}] = append(vals[key{a, t, k}], x)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "| attack | figure | %s |\n|---|---|%s\n", strings.Join(trees, " | "), strings.Repeat("---|", len(trees)))
	for _, a := range attacks {
		slices.Sort(figures[a])
		for _, f := range figures[a] {
			cells := make([]string, len(trees))
			for i, t := range trees {
				cells[i] = stats(vals[key{a, t, f}])
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", a, f, strings.Join(cells, " | "))
		}
	}
	return nil
}

// stats formats the median and, if they differ, the range of xs.
func stats(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	med := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		med = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	if xs[0] == xs[len(xs)-1] {
		return num(med)
	}
	return fmt.Sprintf("%s [%s–%s] n=%d", num(med), num(xs[0]), num(xs[len(xs)-1]), len(xs))
}

func num(x float64) string {
	switch {
	case x == float64(int64(x)):
		return strconv.FormatInt(int64(x), 10)
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}
