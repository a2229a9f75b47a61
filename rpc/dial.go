package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// Dialer makes network connections; net.Dialer's DialContext is one.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// Dial connects to address and runs the handshake; with cfg.TLS set, TLS
// comes first (an empty ServerName means the address's host, as with
// tls.Dial). cfg.HandshakeTimeout bounds the whole, on cfg.Clock. dial
// makes the network connection; nil means a net.Dialer. The errors wrap
// ErrHandshake when the handshake fails, or the dialer's error.
func Dial(ctx context.Context, dial Dialer, network, address string, cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	ctx, stop := handshakeContext(ctx, &cfg)
	defer stop()
	nc, err := dial(ctx, network, address)
	if err != nil {
		return nil, timedOut(ctx, &cfg, err)
	}
	if cfg.TLS != nil {
		tc := tls.Client(nc, tlsFor(cfg.TLS, address))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("%w: TLS: %w", ErrHandshake, timedOut(ctx, &cfg, err))
		}
		nc = tc
	}
	return newConn(ctx, nc, cfg, "rpc connection to", nil)
}

// errHandshakeTimeout is the cause of a context ended by the handshake
// timeout.
var errHandshakeTimeout = errors.New("handshake timeout")

// handshakeContext returns ctx, cancelled when cfg.HandshakeTimeout passes
// on cfg.Clock. The timeout is a timer, not a deadline in the context: the
// network calls that receive the context (dialing, TLS) read deadlines on
// the wall clock, which a fake clock's deadline would mislead.
func handshakeContext(ctx context.Context, cfg *Config) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	timer := cfg.Clock.AfterFunc(cfg.HandshakeTimeout, func() { cancel(errHandshakeTimeout) })
	return ctx, func() {
		timer.Stop()
		cancel(context.Canceled)
	}
}

// timedOut returns err, or a handshake timeout error when that is why ctx
// ended.
func timedOut(ctx context.Context, cfg *Config, err error) error {
	if context.Cause(ctx) == errHandshakeTimeout {
		return handshakeError("timed out after %v (%v)", cfg.HandshakeTimeout, err)
	}
	return err
}

// tlsFor returns c, with ServerName set to address's host when c leaves it
// empty, as tls.Dial does.
func tlsFor(c *tls.Config, address string) *tls.Config {
	if c.ServerName != "" || c.InsecureSkipVerify {
		return c
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	c = c.Clone()
	c.ServerName = host
	return c
}
