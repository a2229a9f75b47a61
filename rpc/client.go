package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

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

	// FailFast makes a call that finds no connection fail at once with the
	// error of the last connection attempt, instead of waiting (within its
	// context) for a connection. A call made while an attempt is under way
	// waits for that attempt's outcome; it never waits for a retry delay.
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
	attempts attempts
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
	c := &Client{failFast: cfg.FailFast, desc: desc}
	c.attempts.init()
	var resolver addr.Resolver[string]
	if cfg.Resolver != nil {
		resolver = addr.ResolverFunc[string](func(ctx context.Context) (string, error) {
			c.attempts.begin()
			a, err := cfg.Resolver.Resolve(ctx)
			if err != nil {
				c.attempts.end(nil, err)
			}
			return a, err
		})
	}
	pc, err := persistent.New(persistent.Config[string, *Conn]{
		ServerName: cfg.ServerName,
		Resolver:   resolver,
		Connect: func(ctx context.Context, address string) (*Conn, error) {
			conn, err := Dial(ctx, cfg.Dial, cfg.Network, address, conn)
			c.attempts.end(conn, err)
			return conn, err
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
	c.pc = pc
	return c, nil
}

// String returns "persistent connection to NAME".
func (c *Client) String() string { return c.desc }

func (c *Client) conn(ctx context.Context) (*Conn, error) {
	if c.failFast {
		return c.failFastConn(ctx)
	}
	conn, err := c.pc.Connected(ctx)
	if err != nil && ctx.Err() != nil {
		return nil, &NotConnectedError{Err: err, Last: c.attempts.lastErr()}
	}
	return conn, err
}

// failFastConn returns the current connection, or the outcome of the
// attempt under way, or at once the error of the last attempt.
func (c *Client) failFastConn(ctx context.Context) (*Conn, error) {
	for {
		if conn, ok := c.pc.CurrentConnection(); ok && usable(conn) {
			return conn, nil
		}
		if c.pc.IsClosed() {
			return c.pc.Connected(ctx) // the persistent connection's ErrClosed
		}
		conn, err, settled := c.attempts.outcome()
		switch {
		case conn != nil && usable(conn):
			return conn, nil
		case conn != nil: // it has closed since, and no attempt is under way
			return nil, &NotConnectedError{Last: conn.closedErr()}
		case err != nil:
			return nil, &NotConnectedError{Last: err}
		}
		select {
		case <-settled:
		case <-ctx.Done():
			return nil, &NotConnectedError{Err: ctx.Err(), Last: c.attempts.lastErr()}
		}
	}
}

// usable reports whether conn takes new calls.
func usable(conn *Conn) bool { return !conn.IsClosed() }

// Conn returns the current connection, waiting for one within ctx (or, with
// FailFast, as a call would).
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

// attempts follows the connection attempts of a Client's persistent
// connection: whether one is under way, and how the last one ended.
type attempts struct {
	mu       sync.Mutex
	underway bool
	conn     *Conn // the last attempt's connection, if it succeeded
	err      error // the last attempt's error, if it failed
	failed   error // the last error of any attempt, kept across successes
	settled  chan struct{}
}

func (a *attempts) init() { a.settled = make(chan struct{}) }

// begin records that an attempt started.
func (a *attempts) begin() {
	a.mu.Lock()
	a.underway = true
	a.mu.Unlock()
}

// end records an attempt's outcome and wakes whoever waits for it.
func (a *attempts) end(conn *Conn, err error) {
	a.mu.Lock()
	a.underway = false
	a.conn, a.err = conn, err
	if err != nil {
		a.failed = err
	}
	close(a.settled)
	a.settled = make(chan struct{})
	a.mu.Unlock()
}

// outcome returns the last attempt's connection or error, unless an
// attempt is under way (or none has ended yet); settled is closed when the
// next one ends.
func (a *attempts) outcome() (*Conn, error, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.underway {
		return nil, nil, a.settled
	}
	return a.conn, a.err, a.settled
}

// lastErr returns the error of the last attempt that failed, if any.
func (a *attempts) lastErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

// NotConnectedError is the error of a call made on a Client that had no
// connection: Err is why the call stopped waiting for one (the context's
// error; nil with FailFast, which does not wait), and Last is the error of
// the last failed connection attempt, if there was one. errors.Is and
// errors.As see both.
type NotConnectedError struct {
	Err  error
	Last error
}

// Error says that there was no connection, why the call gave up, and how
// the last attempt failed.
func (e *NotConnectedError) Error() string {
	switch {
	case e.Err != nil && e.Last != nil:
		return fmt.Sprintf("%v while not connected (last connection attempt: %v)", e.Err, e.Last)
	case e.Err != nil:
		return fmt.Sprintf("%v while not connected", e.Err)
	default:
		return fmt.Sprintf("not connected: %v", e.Last)
	}
}

// Unwrap returns Err and Last, those that are set.
func (e *NotConnectedError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Err, e.Last} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
