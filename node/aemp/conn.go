package aemp

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/tetherkit/tether/clock"
)

// Defaults for the zero fields of [Config].
const (
	DefaultHandshakeTimeout = 30 * time.Second // AnyEvent::MP's monitor_timeout
	DefaultBufferSize       = 64 << 10         // the link's read and write buffers
)

// Config is what [Handshake] needs: this side's identity and offer (as in
// [HandshakeConfig]) and how to run the exchange.
type Config struct {
	// NodeID, Secret, AuthOffer, AuthAccept, Framings, Protocol, Params and
	// Heartbeat are as in HandshakeConfig.
	NodeID                string
	Secret                string
	AuthOffer, AuthAccept []string
	Framings              []string
	Protocol              string
	Params                []Param
	Heartbeat             *Heartbeat

	// TLS, if set, is this side's certificate and verification setup; the
	// greeting then says tls=1.0, and TLS is used when the peer's does too.
	// The same config serves both roles (the side whose nonce line sorts
	// lower is the client), so it must work as both: see NewTLSConfig for
	// AnyEvent::MP's usual setup, one shared self-signed certificate.
	TLS *tls.Config

	// Timeout bounds the whole handshake; zero means 30 s. It runs on Clock
	// (nil: the wall clock) as a timer that interrupts the connection, so
	// any clock works with any connection: a fake clock times out when it
	// is advanced.
	Timeout time.Duration
	Clock   clock.Clock
	// Rand is where the nonce comes from; nil means crypto/rand.Reader.
	Rand io.Reader

	// CheckPeer, if set, is called with the peer's greeting as soon as it
	// has arrived (before authentication: the node ID is not proven yet).
	// Returning an error — ErrAlreadyConnected, typically — ends the
	// handshake with ErrPeerRefused wrapping it. This is where the node
	// refuses a second link to a node it is already connected to.
	CheckPeer func(*Greeting) error

	// TieBreak is HandshakeConfig.TieBreak: the side with the smaller node
	// ID withholds its auth line until the peer's has verified.
	TieBreak bool
	// Commit, if set, is called once the peer has authenticated (Result
	// holds who it is), before the connection is used: with TieBreak on the
	// side with the smaller node ID before this side's auth line leaves, so
	// that refusing leaves the peer unable to take the connection; otherwise
	// after both auth lines. Returning an error ends the handshake with
	// ErrPeerRefused wrapping it.
	Commit func(*Result) error

	// Limits bound the frames of the link's decoders and encoders.
	Limits Limits
	// ReadBufferSize and WriteBufferSize size the link's buffers; zero means
	// DefaultBufferSize. The read buffer is at least MaxLineLength+2. A
	// negative WriteBufferSize means no buffered writer (Link.Writer is nil):
	// for a caller that writes the connection its own way.
	ReadBufferSize, WriteBufferSize int
}

// Link is an authenticated connection, ready for frames.
type Link struct {
	Result
	// Conn is the connection: the one given to Handshake, or a *tls.Conn
	// over it. Its deadlines are cleared.
	Conn net.Conn
	// Reader reads from Conn and is positioned at the peer's first frame;
	// it may already hold frames that arrived with the handshake.
	Reader *bufio.Reader
	// Writer writes to Conn; nothing is buffered in it yet. It is nil if
	// Config.WriteBufferSize was negative.
	Writer *bufio.Writer
	// Limits are Config.Limits with defaults applied.
	Limits Limits
}

// NewEncoder returns an encoder in the link's send framing that writes to
// l.Writer; the caller flushes.
func (l *Link) NewEncoder() Encoder { return l.SendFraming.NewEncoder(l.Writer, l.Limits) }

// NewDecoder returns a decoder in the peer's framing that reads l.Reader.
func (l *Link) NewDecoder() Decoder { return l.RecvFraming.NewDecoder(l.Reader, l.Limits) }

// Handshake runs the AnyEvent::MP handshake on conn, as either side (the
// protocol is symmetric until TLS, whose roles it picks by nonce order): it
// writes greeting and nonce at once, reads the peer's lines (each at most
// MaxLineLength bytes), calls cfg.CheckPeer, runs TLS if both sides want it,
// exchanges and verifies the auth lines, and returns the link.
//
// Writes run in their own goroutine, so that two ends that both write before
// they read work even over an unbuffered net.Pipe; no goroutine outlives the
// call.
//
// On failure it closes conn, once a line it was writing has gone out (or
// the deadline has passed, or ctx ended), and returns a *HandshakeError: one of the
// protocol reasons from the Handshaker, ErrPeerRefused, ErrTLS,
// ErrHandshakeTimeout when cfg.Timeout passes, or ErrConnection for I/O
// errors and ctx ending (the I/O error or ctx.Err() is its Err). An invalid
// cfg gives an error wrapping ErrConfig, a failing cfg.Rand its error.
func Handshake(ctx context.Context, conn net.Conn, cfg Config) (*Link, error) {
	nonce, err := NewNonce(orReader(cfg.Rand))
	if err != nil {
		conn.Close()
		return nil, err
	}
	h, err := NewHandshaker(HandshakeConfig{
		Protocol:   cfg.Protocol,
		NodeID:     cfg.NodeID,
		Secret:     cfg.Secret,
		AuthOffer:  cfg.AuthOffer,
		AuthAccept: cfg.AuthAccept,
		Framings:   cfg.Framings,
		TLS:        cfg.TLS != nil,
		Heartbeat:  cfg.Heartbeat,
		Params:     cfg.Params,
		Nonce:      nonce,
		TieBreak:   cfg.TieBreak,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	d := &driver{ctx: ctx, cfg: &cfg, h: h, raw: conn, conn: conn}
	link, err := d.run()
	if err != nil {
		// Let the line in flight go out first, as AnyEvent::MP does: a peer
		// with the wrong secret then sees our auth line and reports
		// "authentication failure" rather than a hang-up. The handshake
		// deadline or ctx bounds the wait; closing ends the write for good.
		if d.pending != nil {
			select {
			case <-d.pending:
				d.pending = nil
			case <-ctx.Done():
			}
		}
		conn.Close()
		_ = d.waitWrite()
		return nil, err
	}
	return link, nil
}

func orReader(r io.Reader) io.Reader {
	if r == nil {
		return crand.Reader
	}
	return r
}

// driver carries one Handshake.
type driver struct {
	ctx     context.Context
	cfg     *Config
	h       *Handshaker
	raw     net.Conn // the connection given
	conn    net.Conn // raw, or TLS over it
	peer    string
	timeout time.Duration
	pending chan error // the write in flight

	timedOut atomic.Bool // the handshake timer fired
}

func (d *driver) run() (*Link, error) {
	d.timeout = d.cfg.Timeout
	if d.timeout <= 0 {
		d.timeout = DefaultHandshakeTimeout
	}
	// The timeout is a timer on the configured clock that interrupts
	// blocked I/O by setting a deadline that has passed — not a deadline
	// computed from that clock, which a real socket would read on the wall
	// clock. Ending ctx interrupts the same way.
	timer := clock.Or(d.cfg.Clock).AfterFunc(d.timeout, func() {
		d.timedOut.Store(true)
		_ = d.raw.SetDeadline(time.Unix(1, 0))
	})
	defer timer.Stop()
	interrupted := make(chan struct{})
	stop := context.AfterFunc(d.ctx, func() {
		_ = d.raw.SetDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer stop()

	rsize := max(d.cfg.ReadBufferSize, MaxLineLength+2)
	if d.cfg.ReadBufferSize <= 0 {
		rsize = DefaultBufferSize
	}
	br := bufio.NewReaderSize(d.raw, rsize)
	_ = d.write(d.h.Start()) // nothing in flight before: cannot fail
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, d.ioErr(err)
		}
		out, err := d.h.Step(line)
		if err != nil {
			return nil, err
		}
		if g := out.Greeting; g != nil {
			d.peer = g.NodeID
			if d.cfg.CheckPeer != nil {
				if err := d.cfg.CheckPeer(g); err != nil {
					return nil, &HandshakeError{Reason: ErrPeerRefused, Peer: d.peer, Err: err}
				}
			}
		}
		if out.StartTLS {
			if br, err = d.startTLS(br, out.TLSClient); err != nil {
				return nil, err
			}
			if out, err = d.h.TLSUp(); err != nil {
				return nil, err
			}
		}
		if out.Verified {
			if d.cfg.Commit != nil {
				if err := d.cfg.Commit(d.h.Result()); err != nil {
					return nil, &HandshakeError{Reason: ErrPeerRefused, Peer: d.peer, Err: err}
				}
			}
			if !out.Done {
				if out, err = d.h.Confirm(); err != nil {
					return nil, err
				}
			}
		}
		if out.Send != nil {
			if err := d.write(out.Send); err != nil {
				return nil, d.ioErr(err)
			}
		}
		if out.Done {
			break
		}
	}
	if err := d.waitWrite(); err != nil {
		return nil, d.ioErr(err)
	}
	if !stop() {
		<-interrupted // ctx ended: the deadline is (being) set in the past
		return nil, d.ioErr(d.ctx.Err())
	}
	if !timer.Stop() && d.timedOut.Load() {
		return nil, d.ioErr(os.ErrDeadlineExceeded)
	}
	if err := d.raw.SetDeadline(time.Time{}); err != nil {
		return nil, d.ioErr(err)
	}
	var w *bufio.Writer
	switch wsize := d.cfg.WriteBufferSize; {
	case wsize == 0:
		w = bufio.NewWriterSize(d.conn, DefaultBufferSize)
	case wsize > 0:
		w = bufio.NewWriterSize(d.conn, wsize)
	}
	return &Link{
		Result: *d.h.Result(),
		Conn:   d.conn,
		Reader: br,
		Writer: w,
		Limits: d.cfg.Limits.withDefaults(),
	}, nil
}

// write starts writing b to d.conn after the previous write has finished,
// and returns that previous write's error.
func (d *driver) write(b []byte) error {
	if err := d.waitWrite(); err != nil {
		return err
	}
	ch := make(chan error, 1)
	conn := d.conn
	go func() {
		_, err := conn.Write(b)
		ch <- err
	}()
	d.pending = ch
	return nil
}

// waitWrite waits for the write in flight, if any, and returns its error.
func (d *driver) waitWrite() error {
	if d.pending == nil {
		return nil
	}
	err := <-d.pending
	d.pending = nil
	return err
}

// startTLS runs the TLS handshake over the connection, continuing with the
// bytes br has already buffered, and returns a reader for the TLS stream.
func (d *driver) startTLS(br *bufio.Reader, client bool) (*bufio.Reader, error) {
	if err := d.waitWrite(); err != nil { // the nonce must be out before TLS starts
		return nil, d.ioErr(err)
	}
	under := &bufferedConn{Conn: d.raw, r: br}
	var tc *tls.Conn
	if client {
		tc = tls.Client(under, d.cfg.TLS)
	} else {
		tc = tls.Server(under, d.cfg.TLS)
	}
	if err := tc.HandshakeContext(d.ctx); err != nil {
		if d.ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, d.ioErr(err)
		}
		return nil, &HandshakeError{Reason: ErrTLS, Peer: d.peer, Detail: "as " + tlsRole(client), Err: err}
	}
	d.conn = tc
	return bufio.NewReaderSize(tc, br.Size()), nil
}

func tlsRole(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

// ioErr classifies an I/O error during the handshake.
func (d *driver) ioErr(err error) error {
	var he *HandshakeError
	switch {
	case errors.As(err, &he):
		if he.Peer == "" {
			he.Peer = d.peer
		}
		return he
	case errors.Is(d.ctx.Err(), context.DeadlineExceeded):
		return &HandshakeError{Reason: ErrHandshakeTimeout, Peer: d.peer, Detail: "context deadline", Err: d.ctx.Err()}
	case d.ctx.Err() != nil:
		return &HandshakeError{Reason: ErrConnection, Peer: d.peer, Err: d.ctx.Err()}
	case d.timedOut.Load() || errors.Is(err, os.ErrDeadlineExceeded):
		return &HandshakeError{Reason: ErrHandshakeTimeout, Peer: d.peer, Detail: "after " + d.timeout.String()}
	}
	return &HandshakeError{Reason: ErrConnection, Peer: d.peer, Err: err}
}

// bufferedConn is the connection under TLS: it reads what the line reader
// buffered before reading the connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader // nil once drained
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

// readLine reads one handshake line and returns it without its line end. It
// fails with ErrLineTooLong as soon as more than MaxLineLength bytes arrive
// without one.
func readLine(r *bufio.Reader) (string, error) {
	for {
		n := r.Buffered()
		if n > 0 {
			b, _ := r.Peek(n)
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				line := b[:i]
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				if len(line) > MaxLineLength {
					break
				}
				s := string(line)
				_, _ = r.Discard(i + 1) // buffered: cannot fail
				return s, nil
			}
			if n > MaxLineLength+1 {
				break
			}
		}
		if _, err := r.Peek(n + 1); err != nil {
			if err == io.EOF && n > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	return "", hsErr(ErrLineTooLong, "", "more than %d bytes without a line end", MaxLineLength)
}
