package aemp

import (
	"crypto/hmac"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"slices"
	"strings"
)

// Auth methods, as named in greetings and auth lines.
const (
	// AuthHMAC: lowercase hex of HMAC-SHA3-512 keyed with the shared secret
	// over the four handshake lines (the only method Perl sends without TLS).
	AuthHMAC = "hmac_sha3_512"
	// AuthTLSSHA3: lowercase hex of SHA3-512 of the four lines; TLS only.
	AuthTLSSHA3 = "tls_sha3_512"
	// AuthTLSAnon: no auth data; TLS only; the peer is marked untrusted.
	AuthTLSAnon = "tls_anon"
	// AuthCleartext: lowercase hex of the secret itself.
	AuthCleartext = "cleartext"
)

// DefaultAuthAccept is what AnyEvent::MP 2.x accepts, and the default here.
var DefaultAuthAccept = []string{AuthTLSSHA3, AuthHMAC, AuthTLSAnon, AuthCleartext}

// DefaultAuthOffer is what AnyEvent::MP 2.x sends: TLS-based auth when TLS
// is up, else HMAC. Without a secret the default offer is AuthTLSSHA3 alone.
var DefaultAuthOffer = []string{AuthTLSSHA3, AuthHMAC}

// Lines are the four handshake lines, without line ends, from one side's
// point of view.
type Lines struct {
	LocalGreeting, LocalNonce string // what this side sent
	PeerGreeting, PeerNonce   string // what the other side sent
}

// swap returns the lines from the other side's point of view.
func (l Lines) swap() Lines {
	return Lines{LocalGreeting: l.PeerGreeting, LocalNonce: l.PeerNonce, PeerGreeting: l.LocalGreeting, PeerNonce: l.LocalNonce}
}

// authData is "lg1\nlg2\nrg1\nrg2\n", what both digests cover.
func (l Lines) authData() []byte {
	var b strings.Builder
	b.Grow(len(l.LocalGreeting) + len(l.LocalNonce) + len(l.PeerGreeting) + len(l.PeerNonce) + 4)
	for _, s := range [...]string{l.LocalGreeting, l.LocalNonce, l.PeerGreeting, l.PeerNonce} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// AuthToken computes the auth data this side sends for method, given the
// lines from this side's point of view and the shared secret (ignored by the
// tls_* methods). It returns false for a method it does not know. It does not
// check that the method fits the situation (TLS up, a secret set): the
// Handshaker does.
func AuthToken(method, secret string, l Lines) (string, bool) {
	switch method {
	case AuthHMAC:
		m := hmac.New(func() hash.Hash { return sha3.New512() }, []byte(secret))
		m.Write(l.authData())
		return hex.EncodeToString(m.Sum(nil)), true
	case AuthTLSSHA3:
		sum := sha3.Sum512(l.authData())
		return hex.EncodeToString(sum[:]), true
	case AuthTLSAnon:
		return "", true
	case AuthCleartext:
		return hex.EncodeToString([]byte(secret)), true
	}
	return "", false
}

// VerifyAuthToken reports whether token is what the peer must send for
// method, where l is from this side's point of view (the peer computed it
// over the lines in its own order). The comparison takes constant time. An
// unknown method never verifies.
func VerifyAuthToken(method, token, secret string, l Lines) bool {
	want, ok := AuthToken(method, secret, l.swap())
	return ok && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1
}

// isTLSAuth reports whether method needs TLS.
func isTLSAuth(method string) bool { return strings.HasPrefix(method, "tls_") }

// needsSecret reports whether method needs a shared secret.
func needsSecret(method string) bool { return method == AuthHMAC || method == AuthCleartext }

// SelectAuth picks the auth method this side sends: the first method in the
// peer's accept list that is also in this side's offer, skipping tls_*
// methods unless TLS is up. It returns false if there is none.
func SelectAuth(peerAccepts, offer []string, tls bool) (string, bool) {
	for _, m := range peerAccepts {
		if slices.Contains(offer, m) && (tls || !isTLSAuth(m)) {
			return m, true
		}
	}
	return "", false
}

// SelectFraming picks the framing this side sends: the first framing in the
// peer's list that is also in this side's list. It returns false if there is
// none.
func SelectFraming(peerFramings, mine []string) (string, bool) {
	for _, f := range peerFramings {
		if slices.Contains(mine, f) {
			return f, true
		}
	}
	return "", false
}
