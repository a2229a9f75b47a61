package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
)

// Server accepts connections and serves its Config's handlers on each.
type Server struct {
	cfg Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// NewServer returns a server for cfg, which it validates.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, listeners: map[net.Listener]struct{}{}, conns: map[*Conn]struct{}{}}, nil
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("rpc: server closed")

// Serve accepts connections on l until l fails or the server is closed,
// and serves each on its own goroutines. A connection whose handshake fails
// is dropped and logged. Serve returns ErrServerClosed after Close.
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
		s.wg.Go(func() { s.accept(nc) })
	}
}

func (s *Server) accept(nc net.Conn) {
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	ctx, stop := handshakeContext(context.Background(), &s.cfg)
	defer stop()
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			s.cfg.Logger.Info("TLS handshake failed", "peer", nc.RemoteAddr().String(), "err", err)
			nc.Close()
			return
		}
	}
	c, err := newConn(ctx, nc, s.cfg, "rpc connection from")
	if err != nil {
		s.cfg.Logger.Info("handshake failed", "peer", nc.RemoteAddr().String(), "err", err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.shutdown(&ClosedError{Reason: "server closed"}, true)
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	<-c.Done()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
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
