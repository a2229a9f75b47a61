// Package profile is the config file of the tether command: a global
// section and named profiles, each a set of keys (Keys), resolved into a
// node.Config the way AnyEvent::MP's configure resolves its profiles.
//
// The file is JSON:
//
//	{
//	  "global":   {"secret": "…", "seeds": ["10.0.0.1:4040"]},
//	  "profiles": {
//	    "seed":   {"nodeid": "seed", "binds": ["10.0.0.1:4040"]},
//	    "worker": {"parent": "base", "services": ["echo"]}
//	  }
//	}
//
// A profile inherits every key it does not set from its parent, and the
// last in the chain from the global section. Load refuses unknown keys and
// values a key cannot take, saying where; Save writes the whole file
// atomically (a new file renamed over the old), with mode 0600, since it
// may hold a secret.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Path returns where the config file is: $TETHER_CONFIG, or else
// tether/config.json in the user's config directory
// (os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config on Linux).
func Path() (string, error) {
	if p := os.Getenv("TETHER_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config file: set TETHER_CONFIG (%w)", err)
	}
	return filepath.Join(dir, "tether", "config.json"), nil
}

// Section is the global section or a profile: key → value, the values as
// Parse returns them.
type Section map[string]any

// Config is a config file in memory.
type Config struct {
	Path     string
	Global   Section
	Profiles map[string]Section
}

// ErrNoProfile: the config has no profile of that name.
var ErrNoProfile = errors.New("no such profile")

// fileForm is the file's JSON shape.
type fileForm struct {
	Global   map[string]json.RawMessage            `json:"global,omitempty"`
	Profiles map[string]map[string]json.RawMessage `json:"profiles,omitempty"`
}

// Load reads the config file at path. A file that does not exist is an
// empty config; one that cannot be read, is not JSON, or holds an unknown
// key or a bad value is an error that names the file and the place.
func Load(path string) (*Config, error) {
	c := &Config{Path: path, Global: Section{}, Profiles: map[string]Section{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err // *PathError names the file
	}
	var f fileForm
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %s", path, jsonError(data, err))
	}
	if d.More() {
		return nil, fmt.Errorf("%s: %s", path, jsonError(data, errors.New("more after the config object")))
	}
	dir := filepath.Dir(path)
	if c.Global, err = loadSection(f.Global, dir); err != nil {
		return nil, fmt.Errorf("%s: global section: %w", path, err)
	}
	if _, ok := c.Global["parent"]; ok {
		return nil, fmt.Errorf("%s: global section: parent: %w: the global section has none", path, ErrBadValue)
	}
	for name, raw := range f.Profiles {
		if err := checkProfileName(name); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if c.Profiles[name], err = loadSection(raw, dir); err != nil {
			return nil, fmt.Errorf("%s: profile %q: %w", path, name, err)
		}
	}
	return c, nil
}

func loadSection(raw map[string]json.RawMessage, dir string) (Section, error) {
	s := Section{}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		d := json.NewDecoder(bytes.NewReader(raw[k]))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		pv, err := parse(k, v, dir, false)
		if err != nil {
			return nil, err
		}
		s[k] = pv
	}
	return s, nil
}

// jsonError says where in data a decoding error is, by line and column.
func jsonError(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return "malformed config: " + err.Error()
	}
	line, col := 1, 1
	for _, b := range data[:min(int(off), len(data))] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d: malformed config: %v", line, col, err)
}

// Save writes the config to c.Path atomically: into a new file in the same
// directory (created, mode 0700, if missing), synced, then renamed over
// the old one, so that a crash leaves either file whole. The file's mode
// is 0600.
func (c *Config) Save() error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Dir(c.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is none
	_, err = tmp.Write(data)
	err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("writing %s: %w", c.Path, err)
	}
	if err := os.Rename(tmp.Name(), c.Path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// Marshal returns the config as the file holds it: indented JSON.
func (c *Config) Marshal() ([]byte, error) {
	f := fileForm{Global: map[string]json.RawMessage{}, Profiles: map[string]map[string]json.RawMessage{}}
	enc := func(s Section) map[string]json.RawMessage {
		m := map[string]json.RawMessage{}
		for k, v := range s {
			if d, ok := v.(time.Duration); ok {
				v = d.String()
				if d == Off {
					v = "off"
				}
			}
			b, _ := json.Marshal(v) // the values are strings, lists, bools, numbers
			m[k] = b
		}
		return m
	}
	f.Global = enc(c.Global)
	for name, s := range c.Profiles {
		f.Profiles[name] = enc(s)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Section returns the section named name ("" for the global one). A
// profile that does not exist is created if create is set, else it is an
// error wrapping ErrNoProfile.
func (c *Config) Section(name string, create bool) (Section, error) {
	if name == "" {
		return c.Global, nil
	}
	if s, ok := c.Profiles[name]; ok {
		return s, nil
	}
	if !create {
		return nil, fmt.Errorf("%w %q in %s", ErrNoProfile, name, c.Path)
	}
	if err := checkProfileName(name); err != nil {
		return nil, err
	}
	s := Section{}
	c.Profiles[name] = s
	return s, nil
}

// Set sets key of section name ("" global) to v (see Parse). A parent
// must be a profile, and must not make a cycle.
func (c *Config) Set(name, k string, v any) error {
	s, err := c.Section(name, true)
	if err != nil {
		return err
	}
	pv, err := Parse(k, v, "")
	if err != nil {
		return err
	}
	if k == "parent" {
		if err := c.checkParent(name, pv.(string)); err != nil {
			return err
		}
	}
	s[k] = pv
	return nil
}

func (c *Config) checkParent(name, parent string) error {
	if name == "" {
		return fmt.Errorf("parent: %w: the global section has none: it is every profile's last parent", ErrBadValue)
	}
	for p, seen := parent, map[string]bool{name: true}; p != ""; {
		s, ok := c.Profiles[p]
		if !ok {
			return fmt.Errorf("parent: %w %q: create it first (tether profile %s set KEY VALUE)", ErrNoProfile, p, p)
		}
		if seen[p] {
			return fmt.Errorf("parent: %w: %q would be its own ancestor", ErrBadValue, name)
		}
		seen[p] = true
		p, _ = s["parent"].(string)
	}
	return nil
}

// Add appends values to the list key of section name, each once (a value
// that is there already moves to the end, as aemp's addbind does).
func (c *Config) Add(name, k string, values ...any) error {
	s, err := c.Section(name, true)
	if err != nil {
		return err
	}
	if !IsList(k) {
		if !IsKey(k) {
			_, err := key(k)
			return err
		}
		return fmt.Errorf("%s: %w: add takes a list key; use set", k, ErrBadValue)
	}
	var add []any
	for _, v := range values {
		pv, err := Parse(k, v, "")
		if err != nil {
			return err
		}
		add = append(add, toAny(pv)...)
	}
	old := toAny(s[k])
	old = slices.DeleteFunc(old, func(e any) bool { return slices.ContainsFunc(add, func(a any) bool { return same(a, e) }) })
	return c.Set(name, k, append(old, add...))
}

// Del deletes key from section name, so that it is inherited again; with
// values, it deletes only those values from the list the section holds.
func (c *Config) Del(name, k string, values ...any) error {
	s, err := c.Section(name, false)
	if err != nil {
		return err
	}
	if _, err := key(k); err != nil {
		return err
	}
	if len(values) == 0 {
		delete(s, k)
		return nil
	}
	if !IsList(k) {
		return fmt.Errorf("%s: %w: values to delete are for a list key; to delete the key, give none", k, ErrBadValue)
	}
	var del []any
	for _, v := range values {
		pv, err := Parse(k, v, "")
		if err != nil {
			return err
		}
		del = append(del, toAny(pv)...)
	}
	list := slices.DeleteFunc(toAny(s[k]), func(e any) bool { return slices.ContainsFunc(del, func(d any) bool { return same(d, e) }) })
	return c.Set(name, k, list)
}

// DelProfile deletes profile name. A profile that another names as its
// parent stays (the error says which).
func (c *Config) DelProfile(name string) error {
	if _, err := c.Section(name, false); err != nil || name == "" {
		if err == nil {
			err = errors.New("the global section cannot be deleted")
		}
		return err
	}
	for _, other := range slices.Sorted(maps.Keys(c.Profiles)) {
		if c.Profiles[other]["parent"] == name {
			return fmt.Errorf("profile %q is the parent of %q: change that first (tether profile %s del parent)", name, other, other)
		}
	}
	delete(c.Profiles, name)
	return nil
}

// toAny returns a list value as []any (nil for none).
func toAny(v any) []any {
	switch x := v.(type) {
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []any:
		return slices.Clone(x)
	}
	return nil
}

func same(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
