package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestProfileRoundTrip: profiles set, inherited through a parent chain and
// the global section, shown with where each value came from, changed with
// add and del, and deleted.
func TestProfileRoundTrip(t *testing.T) {
	te := newEnv(t)
	te.ok("set", "secret", "s3cr3t", "seeds", "10.0.0.1:4040,10.0.0.2:4040")
	te.ok("profile", "base", "set", "heartbeat", "2s", "framings", `["cbor","json"]`, "secure", "yes", "spawnable", "echo")
	te.ok("profile", "seed", "set", "parent", "base", "nodeid", "seed", "binds", "*:4040", "services", `["echo",["echo","greeters"]]`)
	te.ok("profile", "seed", "add", "binds", "127.0.0.1:4041")
	te.ok("profile", "base", "set", "heartbeat_timeout", "9s")
	te.ok("profile", "base", "del", "framings")

	got := te.ok("showprofile", "seed")
	want := []string{
		`profile seed, in ` + te.config + `:`,
		`  nodeid            "seed"                         profile seed`,
		`  binds             ["*:4040","127.0.0.1:4041"]    profile seed`,
		`  seeds             ["10.0.0.1:4040","10.0.0.2:4040"] global section`,
		`  secret            (6 characters)                 global section`,
		`  secure            true                           profile base`,
		`  spawnable         ["echo"]                       profile base`,
		`  services          ["echo",["echo","greeters"]]   profile seed`,
		`  heartbeat         2s                             profile base`,
		`  heartbeat_timeout 9s                             profile base`,
	}
	if got != strings.Join(want, "\n")+"\n" {
		t.Errorf("showprofile seed:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if got := te.ok("showprofile", "base"); !strings.Contains(got, `nodeid            "base/"                        default`) {
		t.Errorf("showprofile base: no default node ID:\n%s", got)
	}
	if strings.Contains(te.ok("showprofile", "seed"), "s3cr3t") {
		t.Errorf("showprofile shows the secret")
	}

	// The file: what showconfig prints, mode 0600.
	var file struct {
		Global   map[string]any            `json:"global"`
		Profiles map[string]map[string]any `json:"profiles"`
	}
	r := te.run("showconfig")
	if err := json.Unmarshal([]byte(r.stdout), &file); err != nil || r.code != 0 {
		t.Fatalf("showconfig: %v\n%v", err, r)
	}
	if file.Global["secret"] != "s3cr3t" || file.Profiles["seed"]["parent"] != "base" || file.Profiles["base"]["heartbeat"] != "2s" {
		t.Errorf("showconfig: %s", r.stdout)
	}
	if fi, err := os.Stat(te.config); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v, %v", fi.Mode(), err)
	}

	// A parent cannot go while a profile names it; the child can.
	before := fileState(t, te.config)
	if r := te.run("delprofile", "base"); r.code != 2 || !strings.Contains(r.stderr, `profile "base" is the parent of "seed"`) {
		t.Errorf("delprofile base: %v", r)
	}
	if fileState(t, te.config) != before {
		t.Errorf("a failed delprofile changed the file")
	}
	te.ok("delprofile", "seed")
	te.ok("delprofile", "base")
	if r := te.run("showprofile", "seed"); r.code != 2 || !strings.Contains(r.stderr, `no such profile "seed"`) {
		t.Errorf("showprofile of a deleted profile: %v", r)
	}

	// gensecret: long and random.
	te.ok("profile", "a", "gensecret")
	te.ok("profile", "b", "gensecret")
	te.ok("showconfig")
	var after struct {
		Profiles map[string]map[string]any `json:"profiles"`
	}
	json.Unmarshal([]byte(te.ok("showconfig")), &after)
	sa, _ := after.Profiles["a"]["secret"].(string)
	sb, _ := after.Profiles["b"]["secret"].(string)
	if len(sa) < 64 || sa == sb {
		t.Errorf("gensecret made %q and %q", sa, sb)
	}
}

// TestBadConfig: an unknown key, an unreadable file, malformed JSON, a
// bad value and a missing secret each give one clear line, exit 2, and
// leave the file as it was.
func TestBadConfig(t *testing.T) {
	te := newEnv(t)
	te.ok("profile", "p", "set", "seeds", "127.0.0.1:1", "binds", "127.0.0.1:0")
	good := fileState(t, te.config)
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"profile", "p", "set", "colour", "blue"}, `unknown key "colour"`},
		{[]string{"profile", "p", "set", "binds", "127.0.0.1:2", "heartbeat", "soon"}, `heartbeat: bad value: want a duration such as 10s or 500ms, or "off"; not "soon"`},
		{[]string{"profile", "p", "set", "framings", "storable"}, `"storable" is not a framing tether speaks`},
		{[]string{"profile", "p", "set", "cert", "missing.pem"}, "missing.pem: no such file or directory"},
		{[]string{"profile", "p", "set", "binds"}, "want KEY VALUE pairs"},
		{[]string{"run", "p"}, "profile p: no secret and no cert"},
		{[]string{"cal", "-p", "p", "x", "time"}, "profile p: no secret and no cert"},
		{[]string{"run", "nope"}, `no such profile "nope"`},
		{[]string{"run", "p", "colour", "blue"}, `unknown key "colour"`},
	} {
		r := te.run(c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.says) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("tether %s: want exit 2 and one line saying %q; got %v", strings.Join(c.args, " "), c.says, r)
		}
		if fileState(t, te.config) != good {
			t.Fatalf("tether %s changed the file", strings.Join(c.args, " "))
		}
	}

	// A file with an unknown key, or malformed JSON: every command says
	// where, and nothing writes it.
	for _, c := range []struct{ text, says string }{
		{`{"profiles": {"p": {"colour": "blue"}}}`, `profile "p": unknown key "colour"`},
		{"{\n  \"global\": {\"secret\": \"x\",}\n}\n", "line 2, column"},
	} {
		if err := os.WriteFile(te.config, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"showconfig"}, {"set", "secret", "y"}, {"run", "p"}, {"nodes"}} {
			r := te.run(args...)
			if r.code != 2 || !strings.Contains(r.stderr, te.config) || !strings.Contains(r.stderr, c.says) {
				t.Errorf("tether %s with %q: %v", strings.Join(args, " "), c.text, r)
			}
		}
		if fileState(t, te.config) != c.text {
			t.Fatalf("the bad file was changed")
		}
	}

	// A file that cannot be read (here: a directory).
	dir := filepath.Join(te.dir, "dir.json")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := te.command("set", "secret", "x")
	cmd.Env = append(cmd.Env, "TETHER_CONFIG="+dir)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), dir) || !strings.Contains(string(out), "is a directory") {
		t.Errorf("an unreadable config: %v\n%s", err, out)
	}
}

// TestRunOverTLS: gensecret and gencert, then two tether run nodes that
// find each other through the seed and link over TLS; a node with another
// certificate, and the right secret, cannot join.
func TestRunOverTLS(t *testing.T) {
	te := newEnv(t)
	if out := te.ok("gensecret"); !strings.Contains(out, "new secret set in the global section") {
		t.Errorf("gensecret said %q", out)
	}
	if out := te.ok("gencert"); !strings.Contains(out, "new cert set in the global section") {
		t.Errorf("gencert said %q", out)
	}
	te.ok("profile", "seed", "set", "nodeid", "seed", "binds", "127.0.0.1:0")
	seed := te.node("seed")
	if !strings.Contains(seed.err.text(), `"tls":true`) {
		t.Errorf("the seed does not use TLS: %s", seed.err.text())
	}
	te.ok("set", "seeds", seed.addr)
	te.ok("profile", "worker", "set", "nodeid", "worker", "binds", "127.0.0.1:0", "services", "echo")
	worker := te.node("worker")

	// The worker registered its echo port through the seed; an anonymous
	// node finds it there and calls it, reaching the worker by its ID.
	echo := waitEcho(t, te, "")
	if !strings.HasPrefix(echo, "worker#") {
		t.Fatalf("echo port %q", echo)
	}
	if got := te.ok("cal", echo, "over", "tls"); got != "[\"over\",\"tls\"]\n" {
		t.Errorf("cal = %q", got)
	}
	nodes := te.ok("nodes")
	if !regexp.MustCompile(`(?m)^seed +127\.0\.0\.1:\d+  global$`).MatchString(nodes) ||
		!regexp.MustCompile(`(?m)^worker +127\.0\.0\.1:\d+$`).MatchString(nodes) {
		t.Errorf("nodes:\n%s", nodes)
	}

	// Another certificate, the same secret: TLS refuses it.
	te.ok("profile", "intruder", "gencert")
	r := te.run("nodes", "-p", "intruder", "-t", "2s")
	if r.code != 1 || !strings.Contains(r.stderr, "no seed answered within 2s") {
		t.Errorf("a node with a foreign certificate: %v", r)
	}
	worker.stop()
	seed.stop()
}

// waitEcho waits until the registry has an echo port, and returns it.
func waitEcho(t *testing.T, te *tenv, profile string) string {
	t.Helper()
	args := []string{"db", "mon", "echo"}
	if profile != "" {
		args = []string{"db", "-p", profile, "mon", "echo"}
	}
	mon := te.start(args...)
	line := mon.waitLine(mon.out, `"added":{"`)
	mon.signal(syscall.SIGINT)
	if code := mon.wait(); code != 130 {
		t.Fatalf("db mon exited %d after SIGINT", code)
	}
	var c dbChange
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		t.Fatal(err)
	}
	for k := range c.Added {
		return k
	}
	return ""
}
