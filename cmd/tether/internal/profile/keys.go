package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherkit/tether/node/aemp"
)

// ErrUnknownKey: a key that no profile has. ErrBadValue: a value the key
// cannot take. Both are wrapped with the key and the reason.
var (
	ErrUnknownKey = errors.New("unknown key")
	ErrBadValue   = errors.New("bad value")
)

// kind is the type of a key's value. The canonical Go types, in memory
// and in the file: string, []string, bool, time.Duration (a string such
// as "10s" in the file), int64, and []any for services.
type kind int

const (
	kString kind = iota
	kList
	kBool
	kDuration
	kInt
	kCert
	kServices
)

// Key describes one key of a profile.
type Key struct {
	Name string
	Doc  string // one line, for help
	kind kind
	// check validates a parsed value (nil: any value of the kind).
	check func(v any) error
}

// Keys are the keys a profile may hold, in the order help lists them.
var Keys = []Key{
	{Name: "parent", Doc: "the profile this one inherits what it does not set from (and after that chain, the global section)", kind: kString, check: checkProfileName},
	{Name: "nodeid", Doc: `node ID: %n is the host name, %u and a trailing "/" a random string (default PROFILE/)`, kind: kString, check: checkNodeID},
	{Name: "binds", Doc: "addresses to listen on, host:port (host * every interface, port 0 or * any)", kind: kList, check: hostPorts(true)},
	{Name: "seeds", Doc: "addresses of the seed nodes, host:port", kind: kList, check: hostPorts(false)},
	{Name: "secret", Doc: "shared secret that authenticates nodes to each other (gensecret)", kind: kString},
	{Name: "cert", Doc: "key and certificate(s), PEM, inline or a file: links run TLS (gencert)", kind: kCert},
	{Name: "secure", Doc: "refuse remote spawns of services not in spawnable (true/false)", kind: kBool},
	{Name: "spawnable", Doc: "services other nodes may spawn here in secure mode", kind: kList},
	{Name: "services", Doc: `services started with the node: NAME or ["NAME", ARG…]`, kind: kServices},
	{Name: "framings", Doc: "framings offered, best first: msgpack, cbor, json (default all three)", kind: kList, check: eachFraming},
	{Name: "auth_offer", Doc: "auth methods sent, best first (default tls_sha3_512,hmac_sha3_512)", kind: kList, check: eachAuth},
	{Name: "auth_accept", Doc: "auth methods accepted (default tls_sha3_512,hmac_sha3_512,tls_anon,cleartext)", kind: kList, check: eachAuth},
	{Name: "heartbeat", Doc: `heartbeat interval between tether nodes, or "off" (default 10s)`, kind: kDuration},
	{Name: "heartbeat_timeout", Doc: "silence after which a link fails (default 30s)", kind: kDuration, check: positive},
	{Name: "connect_interval", Doc: "time a link may take to come up (default 2s)", kind: kDuration, check: positive},
	{Name: "local_queue", Doc: "limit: messages queued per executor (default 65536)", kind: kInt, check: positive},
	{Name: "send_queue", Doc: "limit: bytes queued per link (default 16 MiB)", kind: kInt, check: positive},
	{Name: "mailbox", Doc: "limit: messages a process may hold (default 65536)", kind: kInt, check: positive},
	{Name: "max_frame", Doc: "limit: bytes in one frame received (default 16 MiB)", kind: kInt, check: positive},
	{Name: "db_families", Doc: "limit: registry families a node may own (default 1024)", kind: kInt, check: positive},
	{Name: "db_keys", Doc: "limit: registry keys a node may own (default 16384)", kind: kInt, check: positive},
}

// key returns the key named name.
func key(name string) (*Key, error) {
	for i := range Keys {
		if Keys[i].Name == name {
			return &Keys[i], nil
		}
	}
	return nil, fmt.Errorf("%w %q (the keys: %s)", ErrUnknownKey, name, keyNames())
}

func keyNames() string {
	names := make([]string, len(Keys))
	for i, k := range Keys {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

// IsKey reports whether name is a key.
func IsKey(name string) bool {
	_, err := key(name)
	return err == nil
}

// IsList reports whether the key named name holds a list (add and del
// take values for it).
func IsList(name string) bool {
	k, err := key(name)
	return err == nil && (k.kind == kList || k.kind == kServices)
}

// Parse converts v into the value of key name. v is either text from the
// command line (a string: a list is comma-separated, a JSON array if it
// starts with "["; a bool is true/false, yes/no, on/off or 1/0; a
// duration is Go's "1.5s" or "off" for the heartbeat) or a JSON value
// (decoded with UseNumber). A cert that is not inline PEM is a file name,
// made absolute relative to dir (the working directory if dir is empty),
// and read to check it. The error wraps ErrUnknownKey or ErrBadValue.
func Parse(name string, v any, dir string) (any, error) { return parse(name, v, dir, true) }

// parse is Parse; a cert is read and checked only if check is set (Load
// does not, so that a config whose cert file has gone can still be
// mended).
func parse(name string, v any, dir string, check bool) (any, error) {
	k, err := key(name)
	if err != nil {
		return nil, err
	}
	out, err := k.parse(v, dir, check)
	if err == nil && k.check != nil {
		err = k.check(out)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrBadValue, err)
	}
	return out, nil
}

func (k *Key) parse(v any, dir string, check bool) (any, error) {
	if s, ok := v.(string); ok && k.kind != kString && k.kind != kCert && strings.HasPrefix(s, "[") {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var j any
		if err := d.Decode(&j); err != nil || d.More() {
			return nil, fmt.Errorf("%q is not a JSON value", s)
		}
		v = j
	}
	switch k.kind {
	case kString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, not %s", describe(v))
		}
		return s, nil
	case kList:
		return parseList(v)
	case kBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(x) {
			case "true", "yes", "on", "1":
				return true, nil
			case "false", "no", "off", "0":
				return false, nil
			}
		}
		return nil, fmt.Errorf("want true or false, not %s", describe(v))
	case kDuration:
		return parseDuration(v, k.Name == "heartbeat")
	case kInt:
		switch x := v.(type) {
		case json.Number:
			return parseInt(string(x))
		case string:
			return parseInt(x)
		case int64:
			return x, nil
		}
		return nil, fmt.Errorf("want a whole number, not %s", describe(v))
	case kCert:
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("want PEM text or a file name, not %s", describe(v))
		}
		if !isPEM(s) {
			if dir == "" {
				var err error
				if s, err = filepath.Abs(s); err != nil {
					return nil, err
				}
			} else if !filepath.IsAbs(s) {
				s = filepath.Join(dir, s)
			}
		}
		if check {
			if _, err := loadCert(s); err != nil {
				return nil, err
			}
		}
		return s, nil
	case kServices:
		return parseServices(v)
	}
	panic("profile: unknown kind")
}

func parseList(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return []string{}, nil
		}
		parts := strings.Split(x, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a list of strings; element %d is %s", i, describe(e))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list (a,b or a JSON array), not %s", describe(v))
}

// Off is the heartbeat's value when it is off.
const Off = time.Duration(-1)

func parseDuration(v any, offOK bool) (time.Duration, error) {
	switch x := v.(type) {
	case time.Duration:
		return x, nil
	case string:
		if offOK && x == "off" {
			return Off, nil
		}
		d, err := time.ParseDuration(x)
		if err != nil || d <= 0 {
			if offOK {
				return 0, fmt.Errorf(`want a duration such as 10s or 500ms, or "off"; not %q`, x)
			}
			return 0, fmt.Errorf("want a duration such as 10s or 500ms, not %q", x)
		}
		return d, nil
	case json.Number: // seconds, as AnyEvent::MP's profiles have them
		f, err := x.Float64()
		if err != nil || f <= 0 || f > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("want a positive number of seconds, not %s", x)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("want a duration such as 10s, not %s", describe(v))
}

func parseInt(s string) (int64, error) {
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, not %q", s)
	}
	return i, nil
}

// parseServices accepts "a,b", ["a", ["b", 1, 2]]: names, or names with
// arguments.
func parseServices(v any) ([]any, error) {
	if s, ok := v.(string); ok {
		names, _ := parseList(s)
		out := make([]any, len(names))
		for i, n := range names {
			out[i] = n
		}
		return out, checkServices(out)
	}
	x, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf(`want a list of services (a,b or a JSON array of "NAME" and ["NAME", ARG…]), not %s`, describe(v))
	}
	out := make([]any, len(x))
	for i, e := range x {
		out[i] = normalizeJSON(e)
	}
	return out, checkServices(out)
}

func checkServices(list []any) error {
	for i, e := range list {
		switch x := e.(type) {
		case string:
			if x != "" {
				continue
			}
		case []any:
			if len(x) > 0 {
				if s, ok := x[0].(string); ok && s != "" {
					continue
				}
			}
		}
		return fmt.Errorf(`service %d: want "NAME" or ["NAME", ARG…], not %s`, i+1, describe(e))
	}
	return nil
}

// normalizeJSON turns json.Number into int64 or float64, throughout v.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeJSON(e)
		}
		return out
	}
	return v
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case json.Number:
		return "the number " + string(x)
	case bool:
		return strconv.FormatBool(x)
	case []any, []string:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}

func checkProfileName(v any) error {
	if s := v.(string); s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, " \t\n") {
		return fmt.Errorf("%q is not a profile name", s)
	}
	return nil
}

func checkNodeID(v any) error {
	s := v.(string)
	if s == "" || strings.ContainsAny(s, "#;,") || strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf(`%q cannot be a node ID (no "#", ";", ",", control characters; not empty)`, s)
	}
	return nil
}

// hostPorts checks a list of host:port addresses; a bind's port may be
// "*" (any).
func hostPorts(bind bool) func(v any) error {
	return func(v any) error {
		for _, a := range v.([]string) {
			_, port, err := net.SplitHostPort(a)
			if err != nil {
				return fmt.Errorf("%q is not host:port", a)
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil && !(bind && port == "*") {
				return fmt.Errorf("%q: %q is not a port number", a, port)
			}
		}
		return nil
	}
}

func eachFraming(v any) error {
	l := v.([]string)
	if len(l) == 0 {
		return errors.New("no framings: a node needs one at least")
	}
	for _, f := range l {
		if aemp.FramingByName(f) == nil {
			return fmt.Errorf("%q is not a framing tether speaks (msgpack, cbor, json)", f)
		}
	}
	return nil
}

var authMethods = []string{aemp.AuthTLSSHA3, aemp.AuthHMAC, aemp.AuthTLSAnon, aemp.AuthCleartext}

func eachAuth(v any) error {
	for _, m := range v.([]string) {
		if !slices.Contains(authMethods, m) {
			return fmt.Errorf("%q is not an auth method (%s)", m, strings.Join(authMethods, ", "))
		}
	}
	return nil
}

func positive(v any) error {
	switch x := v.(type) {
	case int64:
		if x > 0 {
			return nil
		}
	case time.Duration:
		if x > 0 {
			return nil
		}
	}
	return fmt.Errorf("want more than zero, not %v", v)
}
