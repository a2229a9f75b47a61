// Package echo is a line-echo server and client over TCP: the stand-in
// service for tether's own tests, benchmarks and demo.
package echo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/tetherkit/tether/persistent"
)

// Server echoes every line it receives. It can be stopped, which closes its
// listener and every connection like a crashed process, and started again
// on the same address.
type Server struct {
	address string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Listen starts a server on address ("127.0.0.1:0" picks a port).
func Listen(address string) (*Server, error) {
	s := &Server{conns: make(map[net.Conn]struct{})}
	if err := s.listen(address); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr returns the address the server listens on, also while it is stopped.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.address
}

// Running reports whether the server is listening.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln != nil
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart() error {
	if s.Running() {
		return errors.New("echo: server is running")
	}
	return s.listen(s.Addr())
}

func (s *Server) listen(address string) error {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln, s.address = ln, ln.Addr().String()
	s.mu.Unlock()
	s.wg.Go(func() { s.serve(ln) })
	return nil
}

func (s *Server) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ln != ln { // stopped between Accept and here
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := fmt.Fprintf(c, "%s\n", sc.Bytes()); err != nil {
					return
				}
			}
		})
	}
}

// Stop closes the listener and every connection, and waits until the
// server's goroutines have returned. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Conn is a client connection to a Server, ready for a persistent
// connection: when the server goes away its reader closes it, which closes
// Done.
type Conn struct {
	*persistent.NetConn
	lines chan string
}

// Dial connects to the server at address.
func Dial(ctx context.Context, address string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	c := &Conn{NetConn: persistent.NewNetConn(nc), lines: make(chan string, 1)}
	go c.read()
	return c, nil
}

func (c *Conn) read() {
	defer c.Close()
	sc := bufio.NewScanner(c.NetConn)
	for sc.Scan() {
		select {
		case c.lines <- sc.Text():
		case <-c.Done():
			return
		}
	}
}

// Ping sends msg and waits for its echo. It fails if the connection closes,
// the echo differs, or ctx ends first.
func (c *Conn) Ping(ctx context.Context, msg string) error {
	if _, err := fmt.Fprintf(c.NetConn, "%s\n", msg); err != nil {
		return err
	}
	select {
	case got := <-c.lines:
		if got != msg {
			return fmt.Errorf("echo: got %q, want %q", got, msg)
		}
		return nil
	case <-c.Done():
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}
