package aemp

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Greeting-line constants.
const (
	// Protocol is the first field of a node-to-node greeting. Sub-protocols
	// use "aemp-<name>" (AnyEvent::MP's DataConn uses "aemp-dataconn").
	Protocol = "aemp"
	// ProtocolVersion is the only version this package speaks (AnyEvent::MP
	// 1.x and 2.x both send it).
	ProtocolVersion = "1"
	// MaxLineLength bounds a handshake line, without its line end: AnyEvent::MP
	// caps its read buffer at 4 KiB until authentication.
	MaxLineLength = 4096
	// NonceBytes is the number of random bytes in a nonce line (2.x sends
	// 66, as 88 base64 characters).
	NonceBytes = 66
)

// Greeting parameter keys this package knows.
const (
	ParamTLS       = "tls"      // "1.0": a certificate is configured, TLS is wanted
	ParamHeartbeat = "hb"       // Go extension: "<interval ms>,<timeout ms>"
	ParamProvider  = "provider" // e.g. "AE-2.01"
	ParamPeerAddr  = "peeraddr" // the peer's address as seen locally
	ParamMProto    = "mproto"   // "1": the 2.x node/monitor protocol
	ParamGProto    = "gproto"   // "1": the 2.x global protocol
	tlsParamValue  = "1.0"
	paramSeparator = ";"
)

// Param is one "key=value" field of a greeting.
type Param struct {
	Key, Value string
}

// Greeting is line 1 of the handshake:
//
//	aemp;1;<nodeid>;<auth methods accepted>;<framings accepted>[;key=value]…
type Greeting struct {
	Protocol string   // "aemp", or "aemp-<name>" for a sub-protocol
	Version  string   // "1"
	NodeID   string   // the sender's node ID
	Auths    []string // auth methods the sender accepts, preferred first
	Framings []string // framings the sender accepts, preferred first
	Params   []Param  // the key=value fields, in line order
}

// ParseGreeting parses a greeting line, with or without its line end (LF or
// CRLF). It returns a *HandshakeError with reason ErrLineTooLong,
// ErrMalformedGreeting (fewer than five fields, a first field that is not
// "aemp" or "aemp-…", an empty node ID or one containing '#', a control
// character) or ErrVersionMismatch (a version other than "1"; the
// error names the peer). Parameters without '=' get an empty value; empty
// fields and fields with an empty key are skipped, as AnyEvent::MP does.
func ParseGreeting(line string) (*Greeting, error) {
	line = trimLineEnd(line)
	if len(line) > MaxLineLength {
		return nil, hsErr(ErrLineTooLong, "", "%d bytes, limit %d", len(line), MaxLineLength)
	}
	if i := strings.IndexFunc(line, isControl); i >= 0 {
		return nil, hsErr(ErrMalformedGreeting, "", "control character %q at byte %d", line[i], i)
	}
	f := strings.Split(line, paramSeparator)
	if len(f) < 5 {
		return nil, hsErr(ErrMalformedGreeting, "", "%d fields, want at least 5: %.80q", len(f), line)
	}
	g := &Greeting{Protocol: f[0], Version: f[1], NodeID: f[2], Auths: splitList(f[3]), Framings: splitList(f[4])}
	if g.Protocol != Protocol && !strings.HasPrefix(g.Protocol, Protocol+"-") {
		return nil, hsErr(ErrMalformedGreeting, "", "not an aemp greeting: %.80q", line)
	}
	if g.NodeID == "" || strings.Contains(g.NodeID, "#") {
		return nil, hsErr(ErrMalformedGreeting, "", "bad node ID %q", g.NodeID)
	}
	if g.Version != ProtocolVersion {
		return nil, hsErr(ErrVersionMismatch, g.NodeID, "we: %s, they: %.20s", ProtocolVersion, g.Version)
	}
	for _, kv := range f[5:] {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" {
			g.Params = append(g.Params, Param{k, v})
		}
	}
	return g, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func trimLineEnd(line string) string {
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r")
}

func splitList(s string) []string {
	var out []string
	for e := range strings.SplitSeq(s, ",") {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// String formats the greeting line, without a line end.
func (g *Greeting) String() string {
	var b strings.Builder
	b.WriteString(g.Protocol)
	b.WriteString(paramSeparator)
	b.WriteString(g.Version)
	b.WriteString(paramSeparator)
	b.WriteString(g.NodeID)
	b.WriteString(paramSeparator)
	b.WriteString(strings.Join(g.Auths, ","))
	b.WriteString(paramSeparator)
	b.WriteString(strings.Join(g.Framings, ","))
	for _, p := range g.Params {
		b.WriteString(paramSeparator)
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

// Param returns the value of the first parameter called key.
func (g *Greeting) Param(key string) (string, bool) {
	for _, p := range g.Params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// WantsTLS reports whether the greeting has tls=1.x, meaning the sender has a
// certificate and wants TLS (AnyEvent::MP tests int($tls) == 1).
func (g *Greeting) WantsTLS() bool {
	v, ok := g.Param(ParamTLS)
	if !ok {
		return false
	}
	whole, _, _ := strings.Cut(v, ".")
	return whole == "1"
}

// Heartbeat is the Go extension hb=<interval ms>,<timeout ms>: the sender
// writes an empty frame [] whenever it has been idle for Interval, and fails
// a link it has heard nothing on for Timeout. Both are whole milliseconds.
type Heartbeat struct {
	Interval time.Duration
	Timeout  time.Duration
}

// ParseHeartbeat parses the value of an hb= parameter. It returns a
// *HandshakeError with reason ErrMalformedGreeting unless the value is two
// positive integers (milliseconds) with the timeout greater than the interval.
func ParseHeartbeat(v string) (Heartbeat, error) {
	is, ts, ok := strings.Cut(v, ",")
	i, err1 := strconv.ParseUint(is, 10, 31)
	t, err2 := strconv.ParseUint(ts, 10, 31)
	if !ok || err1 != nil || err2 != nil || i == 0 || t <= i {
		return Heartbeat{}, hsErr(ErrMalformedGreeting, "", "bad hb=%.40q: want <interval ms>,<timeout ms> with timeout > interval > 0", v)
	}
	return Heartbeat{Interval: time.Duration(i) * time.Millisecond, Timeout: time.Duration(t) * time.Millisecond}, nil
}

// String formats the hb= value, "<interval ms>,<timeout ms>".
func (h Heartbeat) String() string {
	return strconv.FormatInt(h.Interval.Milliseconds(), 10) + "," + strconv.FormatInt(h.Timeout.Milliseconds(), 10)
}

// validate reports whether h can be announced: whole milliseconds that
// ParseHeartbeat accepts.
func (h Heartbeat) validate() error {
	if h.Interval <= 0 || h.Timeout <= h.Interval || h.Interval%time.Millisecond != 0 || h.Timeout%time.Millisecond != 0 ||
		h.Timeout > (1<<31-1)*time.Millisecond {
		return fmt.Errorf("aemp: heartbeat %v/%v: want whole milliseconds with timeout > interval > 0", h.Interval, h.Timeout)
	}
	return nil
}

// negotiateHeartbeat combines what both sides announced: both send at the
// shorter interval and time out at the longer timeout, so the two ends agree
// and neither times out the other.
func negotiateHeartbeat(mine, theirs Heartbeat) Heartbeat {
	return Heartbeat{Interval: min(mine.Interval, theirs.Interval), Timeout: max(mine.Timeout, theirs.Timeout)}
}

// NewNonce reads NonceBytes bytes from r (crypto/rand.Reader in production,
// a fixed stream in tests) and returns them base64-encoded, the nonce line.
// It returns r's error if r cannot supply them.
func NewNonce(r io.Reader) (string, error) {
	var b [NonceBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("aemp: reading nonce: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}
