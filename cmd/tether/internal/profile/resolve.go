package profile

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/tetherkit/tether/node"
)

// Resolved is a profile resolved: every value it has, and where each came
// from.
type Resolved struct {
	Profile string            // "" for the global section alone
	Values  Section           // key → value
	From    map[string]string // key → "profile NAME", "global section", "command line" or "default"
}

// Resolve resolves profile ("" for none: the global section alone) as
// AnyEvent::MP's configure does: the values of args are defaults, which
// the profile, its parents and then the global section override — unless
// force is set, and then args win. A node ID that nothing sets is
// "PROFILE/" (random; "tether/" without a profile). It fails with
// ErrNoProfile for a profile, or a parent, that does not exist.
func (c *Config) Resolve(profile string, args Section, force bool) (*Resolved, error) {
	r := &Resolved{Profile: profile, Values: Section{}, From: map[string]string{}}
	set := func(s Section, from string, over bool) {
		for k, v := range s {
			if _, ok := r.Values[k]; ok && !over {
				continue
			}
			r.Values[k], r.From[k] = v, from
		}
	}
	if force {
		set(args, "command line", true)
	}
	for name, seen := profile, map[string]bool{}; name != ""; {
		s, ok := c.Profiles[name]
		switch {
		case !ok && name == profile:
			return nil, fmt.Errorf("%w %q in %s (tether profile %s set KEY VALUE… makes one)", ErrNoProfile, name, c.Path, name)
		case !ok:
			return nil, fmt.Errorf("profile %q: its parent chain names %q: %w", profile, name, ErrNoProfile)
		case seen[name]:
			return nil, fmt.Errorf("profile %q: the parent chain loops at %q", profile, name)
		}
		seen[name] = true
		set(s, "profile "+name, false)
		name, _ = s["parent"].(string)
	}
	set(c.Global, "global section", false)
	set(args, "command line", false)
	delete(r.Values, "parent")
	delete(r.From, "parent")
	if _, ok := r.Values["nodeid"]; !ok {
		r.Values["nodeid"], r.From["nodeid"] = "tether/", "default"
		if profile != "" {
			r.Values["nodeid"] = profile + "/"
		}
	}
	return r, nil
}

// ErrNoSecret: a node would have neither a secret nor a certificate, so no
// other node could authenticate it.
var ErrNoSecret = errors.New("no secret and no cert: nodes could not authenticate each other")

// Service is a service a node starts: the name of a registered init
// function and its arguments.
type Service struct {
	Name string
	Args []any
}

// Services returns the services the profile names.
func (r *Resolved) Services() []Service {
	var out []Service
	list, _ := r.Values["services"].([]any)
	for _, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, Service{Name: x})
		case []any:
			out = append(out, Service{Name: x[0].(string), Args: x[1:]})
		}
	}
	return out
}

// NodeConfig returns the node.Config the profile describes (Clock, Logger
// and the like left zero). It reads the cert, and fails with an error
// wrapping ErrNoSecret when there is neither a secret nor a cert.
func (r *Resolved) NodeConfig() (node.Config, error) {
	v := r.Values
	str := func(k string) string { s, _ := v[k].(string); return s }
	list := func(k string) []string { l, _ := v[k].([]string); return l }
	dur := func(k string) time.Duration { d, _ := v[k].(time.Duration); return d }
	num := func(k string) int { i, _ := v[k].(int64); return int(i) }
	cfg := node.Config{
		ID:               str("nodeid"),
		Binds:            binds(list("binds")),
		Seeds:            list("seeds"),
		Secret:           str("secret"),
		Spawnable:        list("spawnable"),
		Framings:         list("framings"),
		AuthOffer:        list("auth_offer"),
		AuthAccept:       list("auth_accept"),
		Heartbeat:        dur("heartbeat"),
		HeartbeatTimeout: dur("heartbeat_timeout"),
		ConnectTimeout:   dur("connect_interval"),
		Limits: node.Limits{
			LocalQueue: num("local_queue"),
			SendQueue:  num("send_queue"),
			Mailbox:    num("mailbox"),
			MaxFrame:   num("max_frame"),
			DBFamilies: num("db_families"),
			DBKeys:     num("db_keys"),
		},
	}
	cfg.Secure, _ = v["secure"].(bool)
	if c := str("cert"); c != "" {
		t, err := loadCert(c)
		if err != nil {
			return node.Config{}, fmt.Errorf("%s: %w", r.From["cert"], err)
		}
		cfg.TLS = t
	}
	if cfg.Secret == "" && cfg.TLS == nil {
		where := "the global section"
		if r.Profile != "" {
			where = "profile " + r.Profile
		}
		return node.Config{}, fmt.Errorf("%s: %w; set one: tether gensecret, or tether set secret TEXT", where, ErrNoSecret)
	}
	return cfg, nil
}

// binds turns AnyEvent::MP's "*" port (any) into 0.
func binds(l []string) []string {
	out := make([]string, len(l))
	for i, b := range l {
		out[i] = b
		if host, port, err := net.SplitHostPort(b); err == nil && port == "*" {
			out[i] = net.JoinHostPort(host, "0")
		}
	}
	return out
}
