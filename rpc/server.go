package rpc

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Server accepts connections and serves its Config's handlers on each.
//
// It bounds what its peers can make it hold (see Config): the connections
// (MaxConns), the handshakes in flight (MaxHandshakes), and the bytes it
// holds for what they send (MaxServerBytes), on top of each connection's
// own limits.
type Server struct {
	cfg    Config
	shared *budget

	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	conns      map[*Conn]struct{}
	handshakes list.List // of context.CancelCauseFunc, oldest first
	closed     bool
	wg         sync.WaitGroup

	connLimit, handshakeLimit, handshakeFailed logLimit
}

// NewServer returns a server for cfg, which it validates.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{
		cfg:       cfg,
		shared:    newBudget(cfg.MaxServerBytes),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*Conn]struct{}{},
	}, nil
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("rpc: server closed")

// errEvicted is why a handshake was abandoned to make room for a newer one.
var errEvicted = errors.New("abandoned to make room: too many handshakes in flight")

// Serve accepts connections on l until l fails or the server is closed,
// and serves each on its own goroutines. A connection whose handshake fails
// is dropped and logged. Serve returns ErrServerClosed after Close.
//
// Past MaxConns, a connection is closed as soon as it is accepted. With
// MaxHandshakes under way, a new connection makes room by abandoning the
// oldest handshake.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			return err
		}
		s.admit(nc)
	}
}

// admit starts the handshake of nc, if the limits let it in.
func (s *Server) admit(nc net.Conn) {
	s.mu.Lock()
	if n := len(s.conns) + s.handshakes.Len(); n >= s.cfg.MaxConns {
		s.mu.Unlock()
		nc.Close()
		s.connLimit.log(s.cfg.Logger, s.cfg.Clock, slog.LevelWarn, "rpc server at its connection limit: refused a connection",
			"peer", nc.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
		return
	}
	var evict context.CancelCauseFunc
	if s.handshakes.Len() >= s.cfg.MaxHandshakes {
		evict = s.handshakes.Remove(s.handshakes.Front()).(context.CancelCauseFunc)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	el := s.handshakes.PushBack(cancel)
	s.mu.Unlock()
	if evict != nil {
		evict(errEvicted)
		s.handshakeLimit.log(s.cfg.Logger, s.cfg.Clock, slog.LevelWarn, "rpc server at its limit on handshakes in flight: abandoned the oldest",
			"max_handshakes", s.cfg.MaxHandshakes)
	}
	s.wg.Go(func() {
		defer cancel(context.Canceled)
		s.serveConn(ctx, nc, el)
	})
}

// serveConn runs the handshake of nc within ctx (which an eviction
// cancels), then keeps the connection until it closes.
func (s *Server) serveConn(ctx context.Context, nc net.Conn, el *list.Element) {
	c, err := s.handshake(ctx, nc)
	s.mu.Lock()
	s.handshakes.Remove(el) // a no-op if it was evicted
	if err == nil && s.closed {
		err = errServerClosing
	}
	if err != nil {
		s.mu.Unlock()
		if c != nil {
			c.shutdown(&ClosedError{Reason: "server closed"}, true)
		}
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	<-c.Done()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

var errServerClosing = errors.New("server closed")

func (s *Server) handshake(ctx context.Context, nc net.Conn) (*Conn, error) {
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	ctx, stop := handshakeContext(ctx, &s.cfg)
	defer stop()
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			s.logHandshakeFailure(nc, "TLS handshake failed", err)
			nc.Close()
			return nil, err
		}
	}
	c, err := newConn(ctx, nc, s.cfg, "rpc connection from", s.shared)
	if err != nil {
		s.logHandshakeFailure(nc, "handshake failed", err)
		return nil, err
	}
	return c, nil
}

// logHandshakeFailure logs a failed handshake: at DEBUG when the peer
// hung up without a word (a TCP health probe, a port scan) or the
// handshake was abandoned for a newer one (already logged), else at INFO,
// rate-limited.
func (s *Server) logHandshakeFailure(nc net.Conn, msg string, err error) {
	peer := nc.RemoteAddr().String()
	if errors.Is(err, io.EOF) || errors.Is(err, errEvicted) {
		s.cfg.Logger.Debug(msg, "peer", peer, "err", err)
		return
	}
	s.handshakeFailed.log(s.cfg.Logger, s.cfg.Clock, slog.LevelInfo, msg, "peer", peer, "err", err)
}

// Conns returns the connections open now.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// Close stops accepting, closes every connection gracefully with reason
// "server closed" — calls under way may finish until ctx ends — and returns
// once all are closed: nil, or ctx.Err() if work was cut short.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for e := s.handshakes.Front(); e != nil; e = e.Next() {
		e.Value.(context.CancelCauseFunc)(errServerClosing)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Go(func() { errs[i] = c.CloseWithReason(ctx, "server closed") })
	}
	wg.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}
