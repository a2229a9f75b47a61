package aemp

import (
	"fmt"
	"slices"
	"strings"
)

// HandshakeConfig is what a [Handshaker] needs to know about this side.
type HandshakeConfig struct {
	// Protocol is the greeting's first field; empty means "aemp".
	Protocol string
	// NodeID is this node's ID; it must not be empty or contain ';', ',',
	// '#' or control characters.
	NodeID string
	// Secret is the shared secret for hmac_sha3_512 and cleartext; empty
	// means none, which leaves only TLS-based auth.
	Secret string
	// AuthOffer lists the methods this side will send, AuthAccept those it
	// accepts (announced in the greeting, best first). nil means
	// DefaultAuthOffer (AuthTLSSHA3 alone when Secret is empty) and
	// DefaultAuthAccept.
	AuthOffer, AuthAccept []string
	// Framings lists the framings this side accepts and sends, best first;
	// nil means DefaultFramings. Each must be one FramingByName knows.
	Framings []string
	// TLS says this side has a certificate and wants TLS: the greeting gets
	// tls=1.0, and TLS is used if the peer's has it too.
	TLS bool
	// Heartbeat, if set, is announced as hb=; heartbeats are used only if
	// the peer announces them too (see Result.Heartbeat).
	Heartbeat *Heartbeat
	// Params are further greeting parameters, in order (provider, mproto,
	// gproto, peeraddr, …). The keys tls and hb are set from TLS and
	// Heartbeat and must not appear here.
	Params []Param
	// Nonce is the nonce line to send: NewNonce(crypto/rand.Reader).
	Nonce string
	// TieBreak makes the side with the smaller node ID withhold its auth
	// line until the peer's has verified (Output.Verified, then Confirm):
	// until then the peer cannot take the connection, so the smaller side
	// decides, among the connections two nodes may be making to each other
	// at once, which one becomes their link — knowing who is at the other
	// end. The larger side sends its auth line at once, as AnyEvent::MP
	// always does, so two such sides never wait for each other.
	TieBreak bool
}

// Result is the outcome of a successful handshake.
type Result struct {
	PeerID      string    // the authenticated peer's node ID
	Peer        *Greeting // the peer's greeting, with its parameters
	SendFraming *Framing  // the framing this side sends in
	RecvFraming *Framing  // the framing the peer sends in
	SendAuth    string    // the auth method this side used
	RecvAuth    string    // the auth method the peer used
	// Trusted is false when the peer authenticated with tls_anon:
	// AnyEvent::MP then marks it untrusted.
	Trusted bool
	// TLS says the link runs over TLS; TLSClient that this side was the TLS
	// client (its nonce line sorted lower).
	TLS, TLSClient bool
	// Heartbeat is set when both sides announced hb=: both send an empty
	// frame after Interval of idleness and fail the link after Timeout of
	// silence, the shorter interval and the longer timeout of the two.
	Heartbeat *Heartbeat
}

// Output is what one step of a [Handshaker] asks its driver to do.
type Output struct {
	// Send holds bytes to write to the peer now (a line with its "\n").
	Send []byte
	// Greeting is the peer's greeting, set on the step that parsed it. The
	// driver runs the node's "already connected?" check at this point.
	Greeting *Greeting
	// StartTLS asks the driver to run TLS now — as the client if TLSClient,
	// else as the server — and then to call TLSUp.
	StartTLS, TLSClient bool
	// Verified means the peer's auth line checked out: Result is ready.
	// Unless Done is set too, this side withholds its own auth line
	// (HandshakeConfig.TieBreak): the driver decides whether to go on, and
	// then calls Confirm for the line to send.
	Verified bool
	// Done means the handshake succeeded: Result is ready, and whatever the
	// peer sends next is frames.
	Done bool
}

// Handshaker is the handshake as a pure state machine: it does no I/O, reads
// no clock and draws no random numbers. A driver writes [Handshaker.Start]'s
// bytes, then feeds each line the peer sends to [Handshaker.Step] and acts on
// each [Output]: write Send, check Greeting, run TLS when StartTLS asks and
// then call [Handshaker.TLSUp], until Done. The sequence is:
//
//	Start                      → greeting + nonce to send
//	Step(peer greeting)        → Output{Greeting}
//	Step(peer nonce)           → Output{Send: auth line}, or Output{StartTLS}
//	TLSUp()  (TLS only)        → Output{Send: auth line}
//	Step(peer auth line)       → Output{Verified, Done}; Result()
//
// With TieBreak, on the side with the smaller node ID, the auth line waits
// until the peer's has verified:
//
//	Step(peer nonce) or TLSUp  → Output{}
//	Step(peer auth line)       → Output{Verified}; Result()
//	Confirm()                  → Output{Send: auth line, Done}
//
// The checks, in AnyEvent::MP's order: after the greeting, its syntax,
// protocol and version, and that the peer is not ourselves; after the nonce,
// the echo check (our own greeting and nonce sent back), that there is TLS or
// a secret, the auth method and framing this side will send; after the auth
// line, the peer's method (one we accept, tls_* only under TLS), its token,
// and its framing. The first failure is returned as a *HandshakeError and
// every later call returns the same error. A Handshaker is not safe for
// concurrent use.
type Handshaker struct {
	cfg    HandshakeConfig
	local  Greeting
	lines  Lines
	state  hsState
	err    error
	echo   bool // the peer's greeting was our own; decided at the nonce
	peer   *Greeting
	peerHB *Heartbeat
	tls    bool
	client bool
	auth   string // the method we send
	frame  string // the framing we send
	// withhold: this side sends its auth line only after the peer's has
	// verified (TieBreak, and the smaller ID).
	withhold bool
	result   *Result
}

type hsState uint8

const (
	hsGreeting hsState = iota
	hsNonce
	hsTLS
	hsAuth
	hsConfirm
	hsDone
)

// NewHandshaker checks cfg and returns a Handshaker for it, or an error
// wrapping ErrConfig that says which field is wrong.
func NewHandshaker(cfg HandshakeConfig) (*Handshaker, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	cfg.AuthOffer, cfg.AuthAccept = slices.Clone(cfg.AuthOffer), slices.Clone(cfg.AuthAccept)
	cfg.Framings = slices.Clone(cfg.Framings)
	h := &Handshaker{cfg: cfg}
	h.local = Greeting{
		Protocol: cfg.Protocol,
		Version:  ProtocolVersion,
		NodeID:   cfg.NodeID,
		Auths:    cfg.AuthAccept,
		Framings: cfg.Framings,
		Params:   slices.Clone(cfg.Params),
	}
	if cfg.TLS {
		h.local.Params = append(h.local.Params, Param{ParamTLS, tlsParamValue})
	}
	if cfg.Heartbeat != nil {
		h.local.Params = append(h.local.Params, Param{ParamHeartbeat, cfg.Heartbeat.String()})
	}
	h.lines.LocalGreeting = h.local.String()
	h.lines.LocalNonce = cfg.Nonce
	if len(h.lines.LocalGreeting) > MaxLineLength {
		return nil, configErr("greeting is %d bytes, limit %d", len(h.lines.LocalGreeting), MaxLineLength)
	}
	return h, nil
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("aemp: %s: %w", fmt.Sprintf(format, args...), ErrConfig)
}

// fill applies defaults and validates.
func (cfg *HandshakeConfig) fill() error {
	if cfg.Protocol == "" {
		cfg.Protocol = Protocol
	}
	if cfg.Protocol != Protocol && (!strings.HasPrefix(cfg.Protocol, Protocol+"-") || badField(cfg.Protocol)) {
		return configErr("protocol %q is not aemp or aemp-<name>", cfg.Protocol)
	}
	if cfg.NodeID == "" || badField(cfg.NodeID) || strings.ContainsAny(cfg.NodeID, "#,") {
		return configErr("bad node ID %q", cfg.NodeID)
	}
	if cfg.AuthOffer == nil {
		cfg.AuthOffer = DefaultAuthOffer
		if cfg.Secret == "" {
			cfg.AuthOffer = []string{AuthTLSSHA3}
		}
	}
	if cfg.AuthAccept == nil {
		cfg.AuthAccept = DefaultAuthAccept
	}
	for _, m := range slices.Concat(cfg.AuthOffer, cfg.AuthAccept) {
		if _, ok := AuthToken(m, "", Lines{}); !ok {
			return configErr("unknown auth method %q", m)
		}
	}
	if cfg.Framings == nil {
		cfg.Framings = DefaultFramings
	}
	if len(cfg.Framings) == 0 {
		return configErr("no framings")
	}
	for _, f := range cfg.Framings {
		if FramingByName(f) == nil {
			return configErr("unknown framing %q", f)
		}
	}
	for _, p := range cfg.Params {
		if p.Key == "" || badField(p.Key) || strings.Contains(p.Key, "=") || badField(p.Value) {
			return configErr("bad greeting parameter %q=%q", p.Key, p.Value)
		}
		if p.Key == ParamTLS || p.Key == ParamHeartbeat {
			return configErr("parameter %q is set from the TLS or Heartbeat field", p.Key)
		}
	}
	if cfg.Heartbeat != nil {
		if err := cfg.Heartbeat.validate(); err != nil {
			return fmt.Errorf("%w: %w", err, ErrConfig)
		}
	}
	if cfg.Nonce == "" || strings.IndexFunc(cfg.Nonce, isControl) >= 0 || len(cfg.Nonce) > MaxLineLength {
		return configErr("bad nonce line %.100q", cfg.Nonce)
	}
	return nil
}

// badField reports whether s cannot be a greeting field.
func badField(s string) bool {
	return strings.ContainsRune(s, ';') || strings.IndexFunc(s, isControl) >= 0
}

// Start returns the two lines this side sends first, greeting and nonce, each
// with its "\n". Both sides send them at once, without waiting for the other.
func (h *Handshaker) Start() []byte {
	return []byte(h.lines.LocalGreeting + "\n" + h.lines.LocalNonce + "\n")
}

// Lines returns the handshake lines seen so far (the peer's are empty until
// they arrive).
func (h *Handshaker) Lines() Lines { return h.lines }

// Result returns the outcome once a step has returned Done, else nil.
func (h *Handshaker) Result() *Result { return h.result }

// Err returns the error that ended the handshake, or nil.
func (h *Handshaker) Err() error { return h.err }

func (h *Handshaker) fail(err *HandshakeError) (Output, error) {
	if err.Peer == "" && h.peer != nil {
		err.Peer = h.peer.NodeID
	}
	h.err = err
	return Output{}, err
}

// Step consumes one line from the peer (its line end, LF or CRLF, may be
// present) and returns what to do next. Errors are *HandshakeError; after
// one, and after Done, every call fails.
func (h *Handshaker) Step(line string) (Output, error) {
	if h.err != nil {
		return Output{}, h.err
	}
	line = trimLineEnd(line)
	if len(line) > MaxLineLength {
		return h.fail(hsErr(ErrLineTooLong, "", "%d bytes, limit %d", len(line), MaxLineLength))
	}
	switch h.state {
	case hsGreeting:
		return h.onGreeting(line)
	case hsNonce:
		return h.onNonce(line)
	case hsAuth:
		return h.onAuth(line)
	case hsTLS:
		return h.fail(hsErr(ErrHandshakeState, "", "a line arrived while TLS was to be started"))
	case hsConfirm:
		return h.fail(hsErr(ErrHandshakeState, "", "a line arrived before Confirm"))
	}
	return h.fail(hsErr(ErrHandshakeState, "", "Step after the handshake ended"))
}

// TLSUp tells the handshaker that TLS is up after Output.StartTLS, and
// returns the auth line to send inside it. Called at any other time it fails
// with ErrHandshakeState.
func (h *Handshaker) TLSUp() (Output, error) {
	if h.err != nil {
		return Output{}, h.err
	}
	if h.state != hsTLS {
		return h.fail(hsErr(ErrHandshakeState, "", "TLSUp without StartTLS"))
	}
	return h.authLine(), nil
}

// Confirm returns this side's auth line, withheld until now, after an
// Output with Verified and not Done; the handshake is then done. Called at
// any other time it fails with ErrHandshakeState.
func (h *Handshaker) Confirm() (Output, error) {
	if h.err != nil {
		return Output{}, h.err
	}
	if h.state != hsConfirm {
		return h.fail(hsErr(ErrHandshakeState, "", "Confirm before the peer was verified"))
	}
	h.state = hsDone
	return Output{Send: h.authBytes(), Done: true}, nil
}

func (h *Handshaker) onGreeting(line string) (Output, error) {
	h.lines.PeerGreeting = line
	h.state = hsNonce
	if line == h.lines.LocalGreeting {
		h.echo = true // our own greeting: an echo if the nonce is ours too
		return Output{}, nil
	}
	g, err := ParseGreeting(line)
	if err != nil {
		return h.fail(err.(*HandshakeError))
	}
	h.peer = g
	if g.Protocol != h.local.Protocol {
		return h.fail(hsErr(ErrProtocolMismatch, "", "we: %s, they: %s", h.local.Protocol, g.Protocol))
	}
	if g.NodeID == h.cfg.NodeID {
		return h.fail(hsErr(ErrSelfConnect, "", ""))
	}
	h.withhold = h.cfg.TieBreak && h.cfg.NodeID < g.NodeID
	if v, ok := g.Param(ParamHeartbeat); ok {
		hb, err := ParseHeartbeat(v)
		if err != nil {
			return h.fail(err.(*HandshakeError))
		}
		h.peerHB = &hb
	}
	return Output{Greeting: g}, nil
}

func (h *Handshaker) onNonce(line string) (Output, error) {
	h.lines.PeerNonce = line
	if h.echo {
		if line == h.lines.LocalNonce {
			return h.fail(hsErr(ErrEchoAttack, h.cfg.NodeID, "the peer sent our greeting and nonce back"))
		}
		return h.fail(hsErr(ErrSelfConnect, h.cfg.NodeID, ""))
	}
	if line == h.lines.LocalNonce {
		return h.fail(hsErr(ErrEchoAttack, "", "the peer sent our nonce"))
	}
	h.tls = h.cfg.TLS && h.peer.WantsTLS()
	if !h.tls && h.cfg.Secret == "" {
		return h.fail(hsErr(ErrNoSecret, "", ""))
	}
	auth, ok := SelectAuth(h.peer.Auths, h.cfg.AuthOffer, h.tls)
	if !ok {
		return h.fail(hsErr(ErrNoCommonAuth, "", "they accept %s; we send %s, %s", listOrNone(h.peer.Auths),
			strings.Join(h.cfg.AuthOffer, ","), tlsState(h.tls)))
	}
	frame, ok := SelectFraming(h.peer.Framings, h.cfg.Framings)
	if !ok {
		return h.fail(hsErr(ErrNoCommonFraming, "", "they accept %s; we send %s", listOrNone(h.peer.Framings), strings.Join(h.cfg.Framings, ",")))
	}
	if needsSecret(auth) && h.cfg.Secret == "" {
		return h.fail(hsErr(ErrNoSecret, "", "selected %s, which needs a secret", auth))
	}
	h.auth, h.frame = auth, frame
	if h.tls {
		h.client = h.lines.LocalNonce < h.lines.PeerNonce
		h.state = hsTLS
		return Output{StartTLS: true, TLSClient: h.client}, nil
	}
	return h.authLine(), nil
}

func tlsState(up bool) string {
	if up {
		return "TLS up"
	}
	return "no TLS"
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

// authLine moves on to the peer's auth line, returning this side's own to
// send unless it withholds it.
func (h *Handshaker) authLine() Output {
	h.state = hsAuth
	if h.withhold {
		return Output{}
	}
	return Output{Send: h.authBytes()}
}

func (h *Handshaker) authBytes() []byte {
	token, _ := AuthToken(h.auth, h.cfg.Secret, h.lines)
	return []byte(h.auth + ";" + token + ";" + h.frame + "\n")
}

func (h *Handshaker) onAuth(line string) (Output, error) {
	f := strings.SplitN(line, ";", 4)
	if len(f) < 3 {
		return h.fail(hsErr(ErrMalformedAuth, "", "%.100q", line))
	}
	method, token, framing := f[0], f[1], f[2]
	switch {
	case !slices.Contains(h.cfg.AuthAccept, method):
		return h.fail(hsErr(ErrAuthFailure, "", "the peer used %.40q, which we do not accept", method))
	case isTLSAuth(method) && !h.tls:
		return h.fail(hsErr(ErrAuthFailure, "", "the peer used %s without TLS", method))
	case needsSecret(method) && h.cfg.Secret == "":
		return h.fail(hsErr(ErrAuthFailure, "", "the peer used %s, but we have no secret", method))
	case !VerifyAuthToken(method, token, h.cfg.Secret, h.lines):
		return h.fail(hsErr(ErrAuthFailure, "", "%s token does not verify", method))
	}
	recv := FramingByName(framing)
	if recv == nil || !slices.Contains(h.cfg.Framings, framing) {
		return h.fail(hsErr(ErrNoCommonFraming, "", "the peer declared framing %.40q, which we did not offer", framing))
	}
	r := &Result{
		PeerID:      h.peer.NodeID,
		Peer:        h.peer,
		SendFraming: FramingByName(h.frame),
		RecvFraming: recv,
		SendAuth:    h.auth,
		RecvAuth:    method,
		Trusted:     method != AuthTLSAnon,
		TLS:         h.tls,
		TLSClient:   h.tls && h.client,
	}
	if h.cfg.Heartbeat != nil && h.peerHB != nil {
		hb := negotiateHeartbeat(*h.cfg.Heartbeat, *h.peerHB)
		r.Heartbeat = &hb
	}
	h.result = r
	if h.withhold {
		h.state = hsConfirm
		return Output{Verified: true}, nil
	}
	h.state = hsDone
	return Output{Verified: true, Done: true}, nil
}
