package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
)

// Config describes a node. Every field has a working zero value.
type Config struct {
	// ID is the node's ID: %n expands to the host name, %u and a trailing
	// '/' to a random unique string. Empty means "tether/" plus a random
	// string.
	ID string

	// Binds are the addresses to listen on ("host:port"; port 0 picks
	// one; host "*" or empty listens on every interface). None: the node
	// is private — it only connects out, and others reach it only over
	// the links it made.
	Binds []string

	// Seeds are the addresses ("host:port") of the seed nodes: the node
	// keeps a link to each, resolving its address on every attempt, and
	// registers with one of them, its master, which holds the registry
	// and finds other nodes for it. A node whose seeds include itself is
	// a global node; so is one that another node registers with. A node
	// without seeds is its own master (its registry holds its own
	// entries) until another registers with it.
	Seeds []string

	// Registry, if set, is called once by Start to make the registry's
	// backend in place of the embedded one (the global nodes above).
	Registry func(*Node) (Registry, error)

	// Secret authenticates nodes to each other (hmac_sha3_512). Nodes
	// without a shared secret can talk only over TLS.
	Secret string

	// TLS, if set, holds this node's certificate: links to nodes that have
	// one too run TLS (as AnyEvent::MP does with a shared certificate).
	TLS *tls.Config

	// Framings are the framings this node accepts and sends, best first:
	// "msgpack", "cbor", "json" (package aemp). Nil means all three, in
	// that order, so that tether nodes speak msgpack to each other and
	// CBOR to Perl nodes, which offer cbor, json and storable.
	Framings []string

	// AuthOffer lists the auth methods this node may send, AuthAccept the
	// ones it accepts, best first (aemp.AuthHMAC, aemp.AuthTLSSHA3,
	// aemp.AuthTLSAnon, aemp.AuthCleartext). Nil means AnyEvent::MP 2.x's
	// defaults: aemp.DefaultAuthOffer (only aemp.AuthTLSSHA3 without a
	// Secret) and aemp.DefaultAuthAccept.
	AuthOffer, AuthAccept []string

	// Secure refuses to spawn init functions not in Spawnable when a
	// remote node asks.
	Secure    bool
	Spawnable []string

	// Limits bound queues and frames; zero fields mean the defaults.
	Limits Limits

	// ConnectTimeout bounds how long a link may take to come up before the
	// monitors on that node fire (default 2 s, AnyEvent::MP's
	// connect_interval). HandshakeTimeout bounds one handshake (30 s).
	ConnectTimeout   time.Duration
	HandshakeTimeout time.Duration

	// Heartbeat and HeartbeatTimeout: between tether nodes, a link that
	// hears nothing for HeartbeatTimeout fails (defaults 10 s and 30 s;
	// a negative Heartbeat turns them off). Perl nodes do not send them.
	Heartbeat        time.Duration
	HeartbeatTimeout time.Duration

	// Shards is the number of executor goroutines that run port callbacks
	// (default GOMAXPROCS).
	Shards int

	// Clock, Rand and Logger: time, randomness and logs. Nil means the
	// wall clock, a random seed, and no logging.
	Clock  clock.Clock
	Rand   *clock.Rand
	Logger *slog.Logger

	// Transport makes network connections; nil means TCP. The simulated
	// network (test/sim) provides one.
	Transport Transport

	// Trace, if set, sees every frame the node's links send (out) and
	// receive, with the peer's node ID, as AnyEvent::MP's
	// PERL_ANYEVENT_MP_TRACE shows them: [port name, args…], [] for a
	// heartbeat. It runs on the goroutine that sends or reads the frame,
	// must return promptly and must not change the frame. Received frames
	// are then decoded as they arrive rather than by the ports' executors,
	// which costs speed.
	Trace func(peer string, out bool, frame []any)

	// Hostname replaces %n; empty means os.Hostname.
	Hostname string
}

// Limits bound what a node buffers.
type Limits struct {
	LocalQueue int // messages and work queued per shard before outside senders wait (default 1<<16)
	QueueBytes int // bytes of messages queued per shard before outside senders and links' readers wait (default 32 MiB)
	SendQueue  int // bytes queued per link before the link fails (default 16 MiB)
	Mailbox    int // messages a process may hold (default 1<<16)
	MaxFrame   int // bytes in one frame received (default 16 MiB)
	// Handshakes bounds the incoming connections still in their handshake
	// (default 128): past it the oldest is abandoned (closed), with a
	// warning at most every 10 s, so that connections that never finish
	// their handshake cannot pile up, nor keep a legitimate one out for
	// longer than it takes to open Handshakes more.
	Handshakes int

	// The registry: the families and the keys in all that this node may
	// own, and that a global node accepts from each node (defaults 1024
	// and 16384). Past them DBSet fails with ErrRegistryLimit, and a
	// global refuses the whole update (logged).
	DBFamilies int
	DBKeys     int
}

// Transport listens and dials; net.Listen and a net.Dialer are one.
type Transport interface {
	Listen(network, address string) (net.Listener, error)
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

type tcp struct{}

func (tcp) Listen(network, address string) (net.Listener, error) { return net.Listen(network, address) }
func (tcp) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// validate fills in the defaults.
func (c *Config) validate() error {
	set := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.ConnectTimeout, 2*time.Second)
	set(&c.HandshakeTimeout, 30*time.Second)
	set(&c.Heartbeat, 10*time.Second)
	set(&c.HeartbeatTimeout, 30*time.Second)
	seti := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	seti(&c.Limits.LocalQueue, 1<<16)
	seti(&c.Limits.QueueBytes, 32<<20)
	seti(&c.Limits.SendQueue, 16<<20)
	seti(&c.Limits.Mailbox, 1<<16)
	seti(&c.Limits.MaxFrame, 16<<20)
	seti(&c.Limits.Handshakes, 128)
	seti(&c.Limits.DBFamilies, 1024)
	seti(&c.Limits.DBKeys, 16384)
	seti(&c.Shards, runtime.GOMAXPROCS(0))
	c.Clock = clock.Or(c.Clock)
	if c.Rand == nil {
		c.Rand = clock.NewRand(clock.RandomSeed())
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Transport == nil {
		c.Transport = tcp{}
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "localhost"
		}
		c.Hostname = h
	}
	if c.Heartbeat > 0 && c.HeartbeatTimeout < c.Heartbeat {
		return errors.New("node: HeartbeatTimeout is shorter than Heartbeat")
	}
	if c.Secure && len(c.Spawnable) == 0 {
		return fmt.Errorf("node: Secure without Spawnable allows no spawns at all; list the names")
	}
	// The handshake checks framings and auth methods: let it say now what
	// it would refuse on every link.
	if _, err := aemp.NewHandshaker(aemp.HandshakeConfig{
		NodeID: "check", Nonce: "check", Secret: c.Secret,
		Framings: c.Framings, AuthOffer: c.AuthOffer, AuthAccept: c.AuthAccept,
	}); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// bindAddress is the address to listen on for a bind: "*" as the host
// means every interface.
func bindAddress(b string) string {
	if host, port, err := net.SplitHostPort(b); err == nil && host == "*" {
		return net.JoinHostPort("", port)
	}
	return b
}

// listenAddrs returns the addresses a node listening on lns publishes
// (family 'l): each listener's address, with an unspecified host (every
// interface) replaced by the addresses of the interfaces.
func listenAddrs(lns []net.Listener) []any {
	out := []any{}
	for _, ln := range lns {
		a := ln.Addr().String()
		host, port, err := net.SplitHostPort(a)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsUnspecified() {
			out = append(out, a)
			continue
		}
		ifaddrs, err := net.InterfaceAddrs()
		if err != nil {
			out = append(out, a)
			continue
		}
		for _, ia := range ifaddrs {
			if ipn, ok := ia.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() && (ip.To4() == nil || ipn.IP.To4() != nil) {
				out = append(out, net.JoinHostPort(ipn.IP.String(), port))
			}
		}
	}
	return out
}
