package profile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		key  string
		in   any
		want any
	}{
		{"binds", "127.0.0.1:4040,*:*", []string{"127.0.0.1:4040", "*:*"}},
		{"binds", `["[::1]:0"]`, []string{"[::1]:0"}},
		{"seeds", "", []string{}},
		{"secure", "yes", true},
		{"secure", false, false},
		{"heartbeat", "off", Off},
		{"heartbeat", "1.5s", 1500 * time.Millisecond},
		{"connect_interval", jsonNumber("2"), 2 * time.Second},
		{"send_queue", "1048576", int64(1 << 20)},
		{"framings", "cbor,json", []string{"cbor", "json"}},
		{"services", `["echo", ["echo", "greeters", 3]]`, []any{"echo", []any{"echo", "greeters", int64(3)}}},
		{"services", "echo,echo", []any{"echo", "echo"}},
		{"nodeid", "db/%n", "db/%n"},
	} {
		got, err := Parse(c.key, c.in, "")
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%s, %#v) = %#v, %v; want %#v", c.key, c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		key, in, says string
	}{
		{"frobs", "1", `unknown key "frobs"`},
		{"binds", "localhost", `"localhost" is not host:port`},
		{"binds", "[1,2]", "element 0 is the number 1"},
		{"framings", "storable", `"storable" is not a framing`},
		{"framings", "", "no framings"},
		{"auth_offer", "hmac_md6_64_256", "not an auth method"},
		{"secure", "maybe", "want true or false"},
		{"heartbeat_timeout", "off", "want a duration"},
		{"max_frame", "-1", "want more than zero"},
		{"nodeid", "a#b", "cannot be a node ID"},
		{"cert", "/nonexistent/cert.pem", "no such file"},
		{"cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "want a private key and a certificate"},
		{"services", `[[]]`, "service 1"},
	} {
		_, err := Parse(c.key, c.in, "")
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Parse(%s, %q) = %v, want an error saying %q", c.key, c.in, err, c.says)
		}
	}
}

func jsonNumber(s string) any { return json.Number(s) }

// TestSaveLoad: what Save writes, Load reads back the same, and the file
// has mode 0600.
func TestSaveLoad(t *testing.T) {
	pemText, err := GenerateCert()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sub", "config.json")
	c, err := Load(path)
	if err != nil || len(c.Profiles) != 0 {
		t.Fatalf("Load(missing) = %v, %v", c, err)
	}
	must(t, c.Set("", "secret", "s3cret"))
	must(t, c.Set("", "cert", pemText))
	must(t, c.Set("", "heartbeat", "off"))
	must(t, c.Set("base", "seeds", "10.0.0.1:4040"))
	must(t, c.Set("seed", "parent", "base"))
	must(t, c.Set("seed", "services", `["echo", ["echo", "x"]]`))
	must(t, c.Set("seed", "send_queue", "4096"))
	must(t, c.Save())
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Global, c.Global) || !reflect.DeepEqual(back.Profiles, c.Profiles) {
		t.Fatalf("loaded %#v %#v\nsaved %#v %#v", back.Global, back.Profiles, c.Global, c.Profiles)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("the directory holds %d files, want only the config", len(entries))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ text, says string }{
		{"{\n  \"global\": {\"secret\": \"x\",}\n}", "line 2, column"},
		{`{"global": {"colour": "blue"}}`, `global section: unknown key "colour"`},
		{`{"profiles": {"a": {"binds": 7}}}`, `profile "a": binds: bad value`},
		{`{"globals": {}}`, `unknown field "globals"`},
		{`{"global": {"parent": "a"}}`, "the global section has none"},
	} {
		path := filepath.Join(dir, "c.json")
		must(t, os.WriteFile(path, []byte(c.text), 0o600))
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), path) {
			t.Errorf("Load(%s) = %v, want an error naming the file and saying %q", c.text, err, c.says)
		}
	}
	path := filepath.Join(dir, "unreadable.json")
	must(t, os.WriteFile(path, []byte("{}"), 0o000))
	if _, err := Load(path); err == nil && os.Getuid() != 0 {
		t.Errorf("Load(unreadable) succeeded")
	}
}

// TestResolve: the parent chain and the global section override the
// command line's values, unless forced; every value says where it came
// from.
func TestResolve(t *testing.T) {
	c := &Config{Path: "c.json", Global: Section{}, Profiles: map[string]Section{}}
	must(t, c.Set("", "secret", "g"))
	must(t, c.Set("", "binds", "*:4040"))
	must(t, c.Set("base", "seeds", "10.0.0.1:4040"))
	must(t, c.Set("base", "secret", "b"))
	must(t, c.Set("w", "parent", "base"))
	must(t, c.Set("w", "services", "echo"))
	args := Section{"binds": []string{"127.0.0.1:0"}, "secure": true, "nodeid": "cli"}

	r, err := c.Resolve("w", args, false)
	must(t, err)
	want := map[string]struct {
		v    any
		from string
	}{
		"secret":   {"b", "profile base"},
		"seeds":    {[]string{"10.0.0.1:4040"}, "profile base"},
		"binds":    {[]string{"*:4040"}, "global section"},
		"services": {[]any{"echo"}, "profile w"},
		"secure":   {true, "command line"},
		"nodeid":   {"cli", "command line"},
	}
	if len(r.Values) != len(want) {
		t.Errorf("values %v", r.Values)
	}
	for k, w := range want {
		if !reflect.DeepEqual(r.Values[k], w.v) || r.From[k] != w.from {
			t.Errorf("%s = %#v from %q, want %#v from %q", k, r.Values[k], r.From[k], w.v, w.from)
		}
	}
	r, _ = c.Resolve("w", args, true)
	if r.From["binds"] != "command line" || r.From["secret"] != "profile base" {
		t.Errorf("forced: binds from %q, secret from %q", r.From["binds"], r.From["secret"])
	}
	r, _ = c.Resolve("base", nil, false)
	if r.Values["nodeid"] != "base/" || r.From["nodeid"] != "default" {
		t.Errorf("default node ID %v from %q", r.Values["nodeid"], r.From["nodeid"])
	}
	cfg, err := r.NodeConfig()
	if err != nil || cfg.ID != "base/" || cfg.Secret != "b" || cfg.Binds[0] != "*:4040" {
		t.Errorf("NodeConfig = %+v, %v", cfg, err)
	}
	if _, err := c.Resolve("nope", nil, false); !errors.Is(err, ErrNoProfile) {
		t.Errorf("Resolve(nope) = %v", err)
	}
	delete(c.Global, "secret")
	delete(c.Profiles["base"], "secret")
	r, _ = c.Resolve("w", nil, false)
	if _, err := r.NodeConfig(); !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), "profile w") {
		t.Errorf("NodeConfig without a secret = %v", err)
	}
}

func TestParentsAddDel(t *testing.T) {
	c := &Config{Path: "c.json", Global: Section{}, Profiles: map[string]Section{}}
	if err := c.Set("a", "parent", "b"); !errors.Is(err, ErrNoProfile) {
		t.Errorf("parent that does not exist: %v", err)
	}
	must(t, c.Set("b", "binds", "1.2.3.4:1,1.2.3.4:2"))
	must(t, c.Set("a", "parent", "b"))
	if err := c.Set("b", "parent", "a"); err == nil || !strings.Contains(err.Error(), "own ancestor") {
		t.Errorf("a cycle: %v", err)
	}
	if err := c.Set("", "parent", "a"); err == nil {
		t.Errorf("the global section took a parent")
	}
	if err := c.DelProfile("b"); err == nil || !strings.Contains(err.Error(), `parent of "a"`) {
		t.Errorf("deleting a parent: %v", err)
	}
	must(t, c.Add("b", "binds", "1.2.3.4:1", "1.2.3.4:3"))
	if got := c.Profiles["b"]["binds"]; !reflect.DeepEqual(got, []string{"1.2.3.4:2", "1.2.3.4:1", "1.2.3.4:3"}) {
		t.Errorf("after add: %v", got)
	}
	must(t, c.Del("b", "binds", "1.2.3.4:2"))
	if got := c.Profiles["b"]["binds"]; !reflect.DeepEqual(got, []string{"1.2.3.4:1", "1.2.3.4:3"}) {
		t.Errorf("after del: %v", got)
	}
	if err := c.Add("b", "secret", "x"); err == nil {
		t.Errorf("add to a string key")
	}
	must(t, c.Del("b", "binds"))
	if _, ok := c.Profiles["b"]["binds"]; ok {
		t.Errorf("del binds left it")
	}
	must(t, c.Del("a", "parent"))
	must(t, c.DelProfile("b"))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCertFile: a cert given as a file name is kept as an absolute path
// and read when the node is configured; a file that has gone since does
// not stop the config from loading, only the node from starting.
func TestCertFile(t *testing.T) {
	pemText, err := GenerateCert()
	must(t, err)
	dir := t.TempDir()
	t.Chdir(dir)
	must(t, os.WriteFile("net.pem", []byte(pemText), 0o600))
	c, err := Load(filepath.Join(dir, "config.json"))
	must(t, err)
	must(t, c.Set("", "secret", "s"))
	must(t, c.Set("", "cert", "net.pem"))
	if got := c.Global["cert"]; got != filepath.Join(dir, "net.pem") {
		t.Fatalf("cert stored as %q", got)
	}
	must(t, c.Save())
	r, err := c.Resolve("", nil, false)
	must(t, err)
	cfg, err := r.NodeConfig()
	if err != nil || cfg.TLS == nil || len(cfg.TLS.Certificates) != 1 {
		t.Fatalf("NodeConfig: %v, %+v", err, cfg.TLS)
	}
	must(t, os.Remove("net.pem"))
	c, err = Load(filepath.Join(dir, "config.json"))
	must(t, err)
	r, _ = c.Resolve("", nil, false)
	if _, err := r.NodeConfig(); err == nil || !strings.Contains(err.Error(), "net.pem") {
		t.Fatalf("NodeConfig with the cert file gone: %v", err)
	}
}
