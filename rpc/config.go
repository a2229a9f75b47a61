package rpc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tetherkit/tether/clock"
)

// Config describes one side of a connection. Start from DefaultConfig; the
// zero value of each field means its default.
type Config struct {
	// Handlers are the methods this side implements: its menu. Nil means
	// none; this side can still call the peer's methods.
	Handlers *Handlers

	// Identification is sent to the peer in the handshake: who we are.
	Identification string

	// ValidatePeer, if set, is called with the peer's handshake; an error
	// refuses the connection (the handshake fails with it).
	ValidatePeer func(Peer) error

	// Description names the connection in errors and logs. Empty means
	// "rpc connection to ADDR" (or "from", on the accepting side).
	Description string

	// MaxFrameSize bounds every frame received, hence every message
	// (request, response, item). Default 1 MiB; at most 1 GiB.
	MaxFrameSize int

	// HeartbeatInterval is how often a heartbeat is sent (default 10 s);
	// HeartbeatTimeout is how long the peer may stay silent, counted in
	// heartbeats sent without hearing anything (default 30 s). A negative
	// interval turns heartbeats off.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration

	// HandshakeTimeout bounds dialing plus the handshake (default 30 s).
	HandshakeTimeout time.Duration

	// TLS, if set, is used by Dial (as a client) and Server (as a server).
	TLS *tls.Config

	// MaxConcurrentHandlers bounds the calls and streams this side serves
	// at once on one connection (default 1024). The peer learns it in the
	// handshake and its callers wait for a slot; a call from a peer that
	// sends past it anyway is refused without running, with an error of
	// class ResourceExhausted.
	MaxConcurrentHandlers int

	// StreamWindow is how many bytes of items of one stream this side
	// buffers before the sender must wait (default 64 KiB). An item larger
	// than the window is still accepted when nothing else is buffered.
	StreamWindow int

	// MaxQueuedBytes bounds the frames waiting to be written (default
	// 4 MiB); senders wait for room past it.
	MaxQueuedBytes int

	// MaxRequestBytes bounds the bytes of requests held by the calls and
	// streams this side serves at once on one connection (default
	// 16 MiB): a request is held from its arrival until its handler
	// returns. The peer learns the bound in the handshake and its callers
	// wait for room, as they wait for a handler slot; a call from a peer
	// that sends past it anyway is refused without running, with an error
	// of class ResourceExhausted. One request larger than the bound is
	// accepted when nothing else is held.
	MaxRequestBytes int

	// The limits below apply to a Server, across all its connections; a
	// connection made by Dial or NewConn ignores them.

	// MaxConns bounds the connections a Server holds, handshakes included
	// (default 1024). A connection accepted past it is closed at once,
	// unread, and a warning is logged (at most once every 10 s, with the
	// count of refusals in between).
	MaxConns int

	// MaxHandshakes bounds the handshakes in flight (default 128). A
	// connection that arrives when that many are under way makes room by
	// abandoning the oldest, so that peers that connect and say nothing
	// cannot keep others out for a HandshakeTimeout; a warning is logged
	// (at most once every 10 s).
	MaxHandshakes int

	// MaxServerBytes bounds the bytes a Server holds for what its peers
	// send, across its connections (default 256 MiB): hellos being read,
	// frames larger than a connection's 64 KiB read buffer being read, and
	// requests held by handlers. A call that would go past it is refused
	// without running, with an error of class ResourceExhausted; a
	// handshake fails. Each connection also has its read buffer (64 KiB)
	// and its write queue (MaxQueuedBytes) outside this bound.
	MaxServerBytes int

	// Clock times deadlines, heartbeats and the handshake; nil means the
	// wall clock.
	Clock clock.Clock

	// Logger receives connection-level events; nil means none.
	Logger *slog.Logger

	// Interceptors wrap the calls, streams and one-way messages this side
	// makes and serves.
	Interceptors Interceptors

	// Stats, if set, is told of every call, stream and one-way message,
	// and of the connection's opening and closing.
	Stats StatsHandler
}

// Defaults.
const (
	DefaultMaxFrameSize          = 1 << 20
	DefaultHeartbeatInterval     = 10 * time.Second
	DefaultHeartbeatTimeout      = 30 * time.Second
	DefaultHandshakeTimeout      = 30 * time.Second
	DefaultMaxConcurrentHandlers = 1024
	DefaultStreamWindow          = 64 << 10
	DefaultMaxQueuedBytes        = 4 << 20
	DefaultMaxRequestBytes       = 16 << 20
	DefaultMaxConns              = 1024
	DefaultMaxHandshakes         = 128
	DefaultMaxServerBytes        = 256 << 20

	maxMaxFrameSize = 1 << 30
)

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		MaxFrameSize:          DefaultMaxFrameSize,
		HeartbeatInterval:     DefaultHeartbeatInterval,
		HeartbeatTimeout:      DefaultHeartbeatTimeout,
		HandshakeTimeout:      DefaultHandshakeTimeout,
		MaxConcurrentHandlers: DefaultMaxConcurrentHandlers,
		StreamWindow:          DefaultStreamWindow,
		MaxQueuedBytes:        DefaultMaxQueuedBytes,
		MaxRequestBytes:       DefaultMaxRequestBytes,
		MaxConns:              DefaultMaxConns,
		MaxHandshakes:         DefaultMaxHandshakes,
		MaxServerBytes:        DefaultMaxServerBytes,
	}
}

// Validate fills in defaults for zero fields and reports settings that
// cannot work.
func (c *Config) Validate() error {
	d := DefaultConfig()
	setDefault(&c.MaxFrameSize, d.MaxFrameSize)
	setDefault(&c.HeartbeatInterval, d.HeartbeatInterval)
	setDefault(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDefault(&c.HandshakeTimeout, d.HandshakeTimeout)
	setDefault(&c.MaxConcurrentHandlers, d.MaxConcurrentHandlers)
	setDefault(&c.StreamWindow, d.StreamWindow)
	setDefault(&c.MaxQueuedBytes, d.MaxQueuedBytes)
	setDefault(&c.MaxRequestBytes, d.MaxRequestBytes)
	setDefault(&c.MaxConns, d.MaxConns)
	setDefault(&c.MaxHandshakes, d.MaxHandshakes)
	setDefault(&c.MaxServerBytes, d.MaxServerBytes)
	c.Clock = clock.Or(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if c.MaxFrameSize < 64 || c.MaxFrameSize > maxMaxFrameSize {
		errs = append(errs, fmt.Errorf("MaxFrameSize %d is outside [64, %d]", c.MaxFrameSize, maxMaxFrameSize))
	}
	if c.HeartbeatInterval > 0 && c.HeartbeatTimeout < c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("HeartbeatTimeout %v is shorter than HeartbeatInterval %v", c.HeartbeatTimeout, c.HeartbeatInterval))
	}
	if c.HandshakeTimeout < 0 || c.MaxConcurrentHandlers < 0 || c.StreamWindow < 0 || c.MaxQueuedBytes < 0 ||
		c.MaxRequestBytes < 0 || c.MaxConns < 0 || c.MaxHandshakes < 0 || c.MaxServerBytes < 0 {
		errs = append(errs, errors.New("a negative timeout or limit"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rpc: invalid config: %w", err)
	}
	return nil
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
