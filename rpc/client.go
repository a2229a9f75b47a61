package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
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

	// Replicas is how many connections the client keeps, each to a
	// different address (default 1: one connection, used until it fails).
	// With more, calls go round-robin over the connections that are up; a
	// connection whose replica went away fails over to an address no other
	// connection uses, and retries its own when none is free, so a
	// restarted replica gets its share of calls again.
	Replicas int

	// Network is passed to the dialer; default "tcp".
	Network string

	// Dial makes network connections; nil means a net.Dialer.
	Dial Dialer

	// Conn configures each connection (handlers, TLS, heartbeats, limits,
	// stats). Its Clock and Logger default to the ones below. Its client
	// interceptors run once per call of the Client, around the transparent
	// retries and the retry policy; its stats handler sees every attempt.
	Conn Config

	// FailFast makes a call that finds no connection fail at once with the
	// error of the last connection attempt, instead of waiting (within its
	// context) for a connection. A call made while an attempt is under way
	// waits for that attempt's outcome; it never waits for a retry delay.
	FailFast bool

	// Retry, by method name, is the retry policy of the methods that may be
	// called more than once (idempotent ones). Other calls are tried again
	// only when they certainly did not run (see MayHaveRun) for want of a
	// connection: the peer was closing, or the connection closed before
	// the call was sent.
	Retry map[string]RetryPolicy

	// OnEvent receives the persistent connections' events; see package
	// persistent.
	OnEvent func(persistent.Event[string, *Conn])

	// RetryDelay, Jitter, Rand: as in persistent.Config. Rand also draws
	// the jitter of the retry policies' delays.
	RetryDelay persistent.RetryPolicy
	Jitter     float64
	Rand       *clock.Rand

	// Clock and Logger are shared by the persistent connections, their
	// connections and the retry policies; nil means the wall clock and no
	// logging.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Client keeps connections to a service that may move between hosts: one
// (or Replicas) persistent connections (package persistent) whose
// connections are rpc connections. Calls made on a Client use a current
// connection, waiting for one within their context when there is none, and
// are tried again on another when they did not run because the one they
// were sent on was closing.
type Client struct {
	desc     string
	failFast bool
	replicas int
	clock    clock.Clock
	rand     *clock.Rand
	retry    map[string]RetryPolicy
	slots    []*slot
	next     atomic.Uint64 // round-robin cursor
	invoker  Invoker
	streamer Streamer

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when a connection or an attempt's outcome changes
	claims   map[string]int
	closing  bool
	inflight int
	idle     chan struct{} // closed when inflight drops to 0, if Close waits
}

// slot is one of a Client's persistent connections.
type slot struct {
	pc       *persistent.Conn[string, *Conn]
	attempts attempts
	claim    string // the address it holds, when there are several slots; guarded by Client.mu
}

// NewClient validates cfg and starts connecting.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.Rand == nil {
		cfg.Rand = clock.NewRand(clock.RandomSeed())
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
	ics := conn.Interceptors
	conn.Interceptors.UnaryClient, conn.Interceptors.StreamClient = nil, nil // they run at the client
	c := &Client{
		desc:     desc,
		failFast: cfg.FailFast,
		replicas: cfg.Replicas,
		clock:    clock.Or(cfg.Clock),
		rand:     cfg.Rand.Derive("retry"),
		retry:    cfg.Retry,
		changed:  make(chan struct{}),
		claims:   map[string]int{},
	}
	c.invoker, c.streamer = c.invokeRetrying, c.openRetrying
	if len(ics.UnaryClient) > 0 {
		c.invoker = chainUnaryClient(ics.UnaryClient, c.invoker)
	}
	if len(ics.StreamClient) > 0 {
		c.streamer = chainStreamClient(ics.StreamClient, c.streamer)
	}
	for i := range cfg.Replicas {
		s := &slot{}
		var resolver addr.Resolver[string]
		if cfg.Resolver != nil {
			resolver = addr.ResolverFunc[string](func(ctx context.Context) (string, error) {
				s.attempts.begin()
				a, err := c.resolve(ctx, s, cfg.Resolver)
				if err != nil {
					c.ended(s, nil, err)
				}
				return a, err
			})
		}
		rnd := cfg.Rand
		if i > 0 {
			rnd = cfg.Rand.Derive(fmt.Sprint("replica ", i))
		}
		pc, err := persistent.New(persistent.Config[string, *Conn]{
			ServerName: cfg.ServerName,
			Resolver:   resolver,
			Connect: func(ctx context.Context, address string) (*Conn, error) {
				conn, err := Dial(ctx, cfg.Dial, cfg.Network, address, conn)
				c.ended(s, conn, err)
				return conn, err
			},
			OnEvent:    cfg.OnEvent,
			RetryDelay: cfg.RetryDelay,
			Jitter:     cfg.Jitter,
			Clock:      cfg.Clock,
			Rand:       rnd,
			Logger:     cfg.Logger,
		})
		if err != nil {
			for _, s := range c.slots {
				s.pc.Close(context.Background())
			}
			return nil, err
		}
		s.pc = pc
		pc.Subscribe(func(e persistent.Event[string, *Conn]) {
			if e.Kind == event.Connected || e.Kind == event.Disconnected {
				c.broadcast()
			}
		})
		c.slots = append(c.slots, s)
	}
	return c, nil
}

// String returns "persistent connection to NAME".
func (c *Client) String() string { return c.desc }

// errAllInUse fails an attempt of a slot that found every address the
// resolver gave in use by the client's other connections.
var errAllInUse = errors.New("every address the resolver gave is in use by another connection of this client")

// resolve asks r for an address, and with several slots, for one that no
// other slot holds: it asks again (a resolver rotates through its
// addresses) a few times before giving up.
func (c *Client) resolve(ctx context.Context, s *slot, r addr.Resolver[string]) (string, error) {
	if c.replicas == 1 {
		return r.Resolve(ctx)
	}
	c.mu.Lock()
	c.unclaimLocked(s)
	c.mu.Unlock()
	for range 2*c.replicas + 1 {
		a, err := r.Resolve(ctx)
		if err != nil {
			return a, err
		}
		c.mu.Lock()
		if c.claims[a] == 0 {
			c.claims[a]++
			s.claim = a
			c.mu.Unlock()
			return a, nil
		}
		c.mu.Unlock()
	}
	return "", errAllInUse
}

func (c *Client) unclaimLocked(s *slot) {
	if s.claim != "" {
		if c.claims[s.claim]--; c.claims[s.claim] <= 0 {
			delete(c.claims, s.claim)
		}
		s.claim = ""
	}
}

// ended records the outcome of an attempt of s.
func (c *Client) ended(s *slot, conn *Conn, err error) {
	s.attempts.end(conn, err)
	if err != nil {
		c.mu.Lock()
		c.unclaimLocked(s)
		c.mu.Unlock()
	}
	c.broadcast()
}

func (c *Client) broadcast() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// pick returns a connection for a call: the next usable one in
// round-robin order, or (waiting, or with FailFast not) the first to come.
func (c *Client) pick(ctx context.Context) (*Conn, error) {
	for {
		c.mu.Lock()
		changed, closing := c.changed, c.closing
		c.mu.Unlock()
		if closing {
			return nil, errClientClosed
		}
		n := uint64(len(c.slots))
		start := c.next.Add(1)
		for i := range n {
			if conn, ok := c.slots[(start+i)%n].pc.CurrentConnection(); ok && usable(conn) {
				return conn, nil
			}
		}
		var last error
		waiting := false // an attempt is under way, or none has ended
		for _, s := range c.slots {
			if s.pc.IsClosed() {
				_, err := s.pc.Connected(ctx) // its ErrClosed
				return nil, err
			}
			conn, err := s.attempts.outcome()
			switch {
			case conn != nil && usable(conn):
				return conn, nil
			case conn != nil:
				last = conn.closedErr()
			case err != nil:
				last = err
			default:
				waiting = true
			}
		}
		if c.failFast && !waiting {
			return nil, &NotConnectedError{Last: last}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, &NotConnectedError{Err: ctx.Err(), Last: c.lastErr()}
		}
	}
}

// lastErr returns the error of the last failed attempt of any slot.
func (c *Client) lastErr() error {
	for _, s := range c.slots {
		if err := s.attempts.lastErr(); err != nil {
			return err
		}
	}
	return nil
}

var errClientClosed = &ClosedError{Reason: "the client is closing"}

// usable reports whether conn takes new calls.
func usable(conn *Conn) bool { return !conn.IsClosed() }

// Conn returns a connection, as a call would pick it: the next one up,
// waiting for one within ctx (or, with FailFast, not waiting for a retry).
func (c *Client) Conn(ctx context.Context) (*Conn, error) { return c.pick(ctx) }

// Persistent returns the underlying persistent connection (the first, with
// several Replicas), for its events and queries.
func (c *Client) Persistent() *persistent.Conn[string, *Conn] { return c.slots[0].pc }

// begin counts a call under way, unless the client is closing.
func (c *Client) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.inflight++
	return true
}

func (c *Client) end() {
	c.mu.Lock()
	if c.inflight--; c.inflight == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
	c.mu.Unlock()
}

// invoke makes a call through the client's interceptors.
func (c *Client) invoke(ctx context.Context, info *MethodInfo, req, resp any) error {
	if !c.begin() {
		return newError(c.desc, info, errClientClosed, false)
	}
	defer c.end()
	return c.invoker(ctx, info, req, resp)
}

// maxTransparent bounds the transparent retries of one call: each needs a
// connection that was closing, so more would mean a peer that refuses
// calls as closing without closing.
const maxTransparent = 16

// invokeRetrying makes a call on a picked connection, and tries again on
// another when it did not run for want of a usable connection, and as its
// retry policy says.
func (c *Client) invokeRetrying(ctx context.Context, info *MethodInfo, req, resp any) error {
	var r *retrier
	for transparent := 0; ; {
		conn, err := c.pick(ctx)
		if err != nil {
			return newError(c.desc, info, err, false)
		}
		err = conn.invokeOnce(ctx, info, req, resp)
		if err == nil {
			return nil
		}
		if !MayHaveRun(err) && ClassOf(err) == Unavailable && transparent < maxTransparent && ctx.Err() == nil {
			transparent++
			continue
		}
		if r == nil {
			policy, ok := c.retry[info.Name]
			if !ok {
				return err
			}
			r = c.newRetrier(policy)
		}
		if !r.again(ctx, err) {
			return err
		}
	}
}

// openStream opens a stream through the client's interceptors.
func (c *Client) openStream(ctx context.Context, info *MethodInfo, req any) (ClientStreamer, error) {
	if !c.begin() {
		return nil, newError(c.desc, info, errClientClosed, false)
	}
	defer c.end()
	return c.streamer(ctx, info, req)
}

// openRetrying opens a stream on a picked connection, and tries again on
// another when the opening was refused unrun for want of a usable one.
func (c *Client) openRetrying(ctx context.Context, info *MethodInfo, req any) (ClientStreamer, error) {
	for transparent := 0; ; transparent++ {
		conn, err := c.pick(ctx)
		if err != nil {
			return nil, newError(c.desc, info, err, false)
		}
		st, err := conn.openStreamOnce(ctx, info, req)
		if err == nil || MayHaveRun(err) || ClassOf(err) != Unavailable || transparent >= maxTransparent || ctx.Err() != nil {
			return st, err
		}
	}
}

// Close closes the client gracefully: new calls fail at once (class
// Unavailable), calls under way may finish until ctx ends, then the
// connections close (each letting the calls its peer makes finish) and no
// more are made. It returns nil once everything is closed, or ctx.Err() if
// ctx ended first; closing goes on regardless.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closing = true
	var idle chan struct{}
	if c.inflight > 0 {
		if c.idle == nil {
			c.idle = make(chan struct{})
		}
		idle = c.idle
	}
	c.mu.Unlock()
	c.broadcast()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	errs := []error{err}
	for _, s := range c.slots {
		errs = append(errs, s.pc.Close(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return ctx.Err()
	}
	return nil
}

var _ persistent.Connection = (*Conn)(nil)

// attempts follows the connection attempts of a persistent connection:
// whether one is under way, and how the last one ended.
type attempts struct {
	mu       sync.Mutex
	underway bool
	conn     *Conn // the last attempt's connection, if it succeeded
	err      error // the last attempt's error, if it failed
	failed   error // the last error of any attempt, kept across successes
}

// begin records that an attempt started.
func (a *attempts) begin() {
	a.mu.Lock()
	a.underway = true
	a.mu.Unlock()
}

// end records an attempt's outcome.
func (a *attempts) end(conn *Conn, err error) {
	a.mu.Lock()
	a.underway = false
	a.conn, a.err = conn, err
	if err != nil {
		a.failed = err
	}
	a.mu.Unlock()
}

// outcome returns the last attempt's connection or error, or neither if
// an attempt is under way (or none has ended yet).
func (a *attempts) outcome() (*Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.underway {
		return nil, nil
	}
	return a.conn, a.err
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
// errors.As see both. Its class is that of Err, or Unavailable.
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
	case e.Last != nil:
		return fmt.Sprintf("not connected: %v", e.Last)
	default:
		return "not connected"
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
