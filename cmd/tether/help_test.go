package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden help files in testdata/help")

// TestHelpGolden: tether help, and every command's -h, print what
// testdata/help holds (go test -run TestHelpGolden -update rewrites it),
// in lines of 80 columns at most.
func TestHelpGolden(t *testing.T) {
	t.Setenv("TETHER_PROFILE", "")
	cases := map[string][]string{"tether": {"help"}}
	for _, c := range commands {
		cases[c.name] = []string{c.name, "-h"}
	}
	for name, args := range cases {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
			t.Errorf("tether %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr.String())
		}
		for _, l := range strings.Split(stdout.String(), "\n") {
			if utf8.RuneCountInString(strings.ReplaceAll(l, "\t", "        ")) > 80 {
				t.Errorf("tether %s: a line over 80 columns: %q", strings.Join(args, " "), l)
			}
		}
		path := filepath.Join("testdata", "help", name+".golden")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -run TestHelpGolden -update writes it)", err)
		}
		if stdout.String() != string(want) {
			t.Errorf("tether %s printed:\n%s\nwant (%s):\n%s", strings.Join(args, " "), stdout.String(), path, want)
		}
	}
	// help COMMAND is COMMAND -h; --help is -h.
	for _, args := range [][]string{{"help", "cal"}, {"cal", "--help"}} {
		var stdout, stderr bytes.Buffer
		run(context.Background(), args, &stdout, &stderr)
		want, _ := os.ReadFile(filepath.Join("testdata", "help", "cal.golden"))
		if stdout.String() != string(want) {
			t.Errorf("tether %s printed:\n%s", strings.Join(args, " "), stdout.String())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{nil, "usage: tether COMMAND"},
		{[]string{"frobnicate"}, `tether: unknown command "frobnicate"; run tether help` + "\n"},
		{[]string{"cal"}, "tether cal: want a PORT (see tether help cal)\n"},
		{[]string{"cal", "-x"}, "tether cal: flag provided but not defined: -x (see tether help cal)\n"},
		{[]string{"cal", "p", "[1,"}, `tether cal: "[1," is not JSON`},
		{[]string{"[1, 2"}, "tether: the command line"},
		{[]string{"demo", "now"}, "tether demo: takes no arguments (see tether help demo)\n"},
		{[]string{"db", "frob", "f"}, `tether db: unknown verb "frob"`},
		{[]string{"help", "frob"}, `tether help: no command "frob"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.says) {
			t.Errorf("tether %q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.says)
		}
	}
}

func TestMessageArguments(t *testing.T) {
	for _, c := range []struct {
		in   any
		want any
	}{
		{raw("hello"), "hello"},
		{raw("42"), int64(42)},
		{raw("-1.5"), -1.5},
		{raw("1e3"), 1000.0},
		{raw("12abc"), "12abc"},
		{raw("-v"), "-v"},
		{raw(`"42"`), "42"},
		{raw(`[1, "a", {"b": null}]`), []any{int64(1), "a", map[string]any{"b": nil}}},
		{raw("true"), "true"},
		{raw(""), ""},
		{raw("99999999999999999999"), 1e20},
	} {
		got, err := msgArg(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("msgArg(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
	argv, err := splitArgv([]string{`["cal", "p#x", 1, "2"]`})
	if err != nil || len(argv) != 4 {
		t.Fatalf("whole-argv JSON: %v, %v", argv, err)
	}
	if v, _ := msgArg(argv[3]); v != "2" {
		t.Errorf("a JSON string in a whole-argv array became %#v", v)
	}
	if got := jsonText([]any{[]byte("text"), []byte{0xff}, "<&>"}); got != `["text","/w==","<&>"]` {
		t.Errorf("jsonText = %s", got)
	}
}
