package rpc

import (
	"context"
	"log/slog"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/persistent"
)

// ClientConfig describes a Client. ServerName and Resolver are required.
type ClientConfig struct {
	// ServerName names the service: errors say "persistent connection to
	// ServerName".
	ServerName string

	// Resolver says where the service is, asked before every connection
	// attempt (see package addr): a list of replicas, DNS, a catalog file.
	Resolver addr.Resolver[string]

	// Network is passed to the dialer; default "tcp".
	Network string

	// Dial makes network connections; nil means a net.Dialer.
	Dial Dialer

	// Conn configures each connection (handlers, TLS, heartbeats, limits).
	// Its Clock and Logger default to the ones below.
	Conn Config

	// FailFast makes calls that find no connection fail with the error of
	// the next connection attempt, instead of waiting (within their
	// context) for a connection.
	FailFast bool

	// OnEvent receives the persistent connection's events; see package
	// persistent.
	OnEvent func(persistent.Event[string, *Conn])

	// RetryDelay, Jitter, Rand: as in persistent.Config.
	RetryDelay persistent.RetryPolicy
	Jitter     float64
	Rand       *clock.Rand

	// Clock and Logger are shared by the persistent connection and its
	// connections; nil means the wall clock and no logging.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Client keeps a connection to a service that may move between hosts: a
// persistent connection (package persistent) whose connections are rpc
// connections. Calls made on a Client use the current connection, waiting
// for one within their context when there is none.
type Client struct {
	pc       *persistent.Conn[string, *Conn]
	failFast bool
	desc     string
}

// NewClient validates cfg and starts connecting.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	conn := cfg.Conn
	if conn.Clock == nil {
		conn.Clock = cfg.Clock
	}
	if conn.Logger == nil {
		conn.Logger = cfg.Logger
	}
	desc := "persistent connection to " + cfg.ServerName
	if conn.Description == "" {
		conn.Description = desc
	}
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	pc, err := persistent.New(persistent.Config[string, *Conn]{
		ServerName: cfg.ServerName,
		Resolver:   cfg.Resolver,
		Connect: func(ctx context.Context, address string) (*Conn, error) {
			return Dial(ctx, cfg.Dial, cfg.Network, address, conn)
		},
		OnEvent:    cfg.OnEvent,
		RetryDelay: cfg.RetryDelay,
		Jitter:     cfg.Jitter,
		Clock:      cfg.Clock,
		Rand:       cfg.Rand,
		Logger:     cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Client{pc: pc, failFast: cfg.FailFast, desc: desc}, nil
}

// String returns "persistent connection to NAME".
func (c *Client) String() string { return c.desc }

func (c *Client) conn(ctx context.Context) (*Conn, error) {
	if c.failFast {
		return c.pc.ConnectedOrFailedToConnect(ctx)
	}
	return c.pc.Connected(ctx)
}

// Conn returns the current connection, waiting for one within ctx (or, with
// FailFast, the outcome of the next attempt).
func (c *Client) Conn(ctx context.Context) (*Conn, error) { return c.conn(ctx) }

// Persistent returns the underlying persistent connection, for its events
// and queries.
func (c *Client) Persistent() *persistent.Conn[string, *Conn] { return c.pc }

// Close closes the client: no more attempts, and the current connection is
// closed (gracefully: calls under way may finish until ctx ends).
func (c *Client) Close(ctx context.Context) error {
	return c.pc.Close(ctx)
}

var _ persistent.Connection = (*Conn)(nil)
