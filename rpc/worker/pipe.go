package worker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Pipe is one end of the link between a parent and its worker: a duplex
// byte stream made of two OS pipes. In the child it reads the parent's
// writes from what was its stdin and writes to what was its stdout; in the
// parent it is embedded in the *Worker, reading the child's stdout and
// writing to its stdin.
//
// A Pipe is a net.Conn, deadlines included (the pipes are non-blocking and
// use the runtime's poller), so rpc.NewConn runs over it. For simple cases
// it also carries raw messages, each a 4-byte big-endian length and that
// many bytes: see ReadMessage and WriteMessage. Do not mix the two on one
// pipe.
type Pipe struct {
	r, w          *os.File
	local, remote *Addr
	max           atomic.Int64

	rmu  sync.Mutex // one ReadMessage at a time
	rerr error      // sticky: the read side is unusable
	wmu  sync.Mutex // one WriteMessage at a time

	// ended, if set, turns the error that ends the stream (io.EOF from a
	// read, EPIPE from a write) into a better one: in the parent, how the
	// child exited.
	ended func(err error) error
	gone  atomic.Bool // the peer closed its end (EOF or EPIPE seen)

	rOnce, wOnce sync.Once
	rErr, wErr   error
}

func newPipe(r, w *os.File, local, remote *Addr, max int) *Pipe {
	p := &Pipe{r: r, w: w, local: local, remote: remote}
	p.SetMaxMessageSize(max)
	return p
}

// Read reads from the peer. In the parent, when the child's stdout has
// closed, it waits (up to Config.Grace) for the child to exit and then
// returns io.EOF if the child exited with status 0, its *ExitError
// otherwise.
func (p *Pipe) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.EOF {
		p.gone.Store(true)
		if p.ended != nil {
			err = p.ended(err)
		}
	}
	return n, err
}

// Write writes to the peer. In the parent, when the child's stdin has
// closed, it waits (up to Config.Grace) for the child to exit and then
// returns its *ExitError if it exited badly, the write error otherwise.
func (p *Pipe) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil && errors.Is(err, syscall.EPIPE) {
		p.gone.Store(true)
		if p.ended != nil {
			err = p.ended(err)
		}
	}
	return n, err
}

// CloseWrite closes the writing half: the peer reads io.EOF once it has
// read what was written. Reading goes on.
func (p *Pipe) CloseWrite() error {
	p.wOnce.Do(func() { p.wErr = p.w.Close() })
	return p.wErr
}

// Close closes both halves; blocked reads and writes return at once with
// an error. Later calls return the first one's result. (A *Worker's Close
// is another: it stops the child, and closes the reading half last.)
func (p *Pipe) Close() error {
	p.rOnce.Do(func() { p.rErr = p.r.Close() })
	return errors.Join(p.rErr, p.CloseWrite())
}

// LocalAddr returns this process's address: its worker name, if it is a
// worker, and process ID.
func (p *Pipe) LocalAddr() net.Addr { return p.local }

// RemoteAddr returns the peer's address: the worker's name and process ID
// in the parent, the parent's process ID in the child.
func (p *Pipe) RemoteAddr() net.Addr { return p.remote }

// SetDeadline sets the read and write deadlines, as net.Conn does.
func (p *Pipe) SetDeadline(t time.Time) error {
	return errors.Join(p.SetReadDeadline(t), p.SetWriteDeadline(t))
}

// SetReadDeadline sets the deadline for reads, as net.Conn does: reads
// then fail with an error wrapping os.ErrDeadlineExceeded.
func (p *Pipe) SetReadDeadline(t time.Time) error { return p.r.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for writes, as net.Conn does.
func (p *Pipe) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

// SetMaxMessageSize sets the largest message ReadMessage accepts and
// WriteMessage sends; n <= 0 means DefaultMaxMessageSize, and n is capped
// at 1 GiB. It is safe to call at any time.
func (p *Pipe) SetMaxMessageSize(n int) {
	if n <= 0 {
		n = DefaultMaxMessageSize
	}
	p.max.Store(int64(min(n, maxMaxMessageSize)))
}

// ReadMessage reads one raw message. It returns io.EOF when the peer has
// closed its end between messages (in the parent: the child exited with
// status 0; see Read for the other cases) and io.ErrUnexpectedEOF when it
// closed it in the middle of one.
//
// A message over the maximum size fails with a *TooLargeError before
// anything is allocated for it, and so does every later ReadMessage: the
// read side is unusable. ReadMessage is safe for concurrent use; each call
// returns a whole message. It honours the read deadline.
func (p *Pipe) ReadMessage() ([]byte, error) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.rerr != nil {
		return nil, p.rerr
	}
	var hdr [4]byte
	if _, err := io.ReadFull(p, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if max := p.max.Load(); int64(n) > max {
		p.rerr = &TooLargeError{Size: int(n), Max: int(max)}
		return nil, p.rerr
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// WriteMessage writes msg as one raw message. A message over the maximum
// size fails with a *TooLargeError and nothing is written. It is safe for
// concurrent use: messages are not interleaved. It honours the write
// deadline; a message cut short by it leaves the stream unusable.
func (p *Pipe) WriteMessage(msg []byte) error {
	if max := p.max.Load(); int64(len(msg)) > max {
		return &TooLargeError{Size: len(msg), Max: int(max)}
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if len(msg) <= smallMessage {
		// One system call, and the peer never sees half a message.
		b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
		_, err := p.Write(append(b, msg...))
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(msg)))
	if _, err := p.Write(hdr[:]); err != nil {
		return err
	}
	_, err := p.Write(msg)
	return err
}

// smallMessage is the size up to which WriteMessage copies a message to
// write it with its length in one system call.
const smallMessage = 4 << 10

var _ net.Conn = (*Pipe)(nil)

// Addr is the address of one end of a Pipe.
type Addr struct {
	Worker string // the worker's name; empty for the parent
	Pid    int
}

// Network returns "pipe".
func (a *Addr) Network() string { return "pipe" }

// String returns "worker NAME (pid N)", or "pid N" for the parent.
func (a *Addr) String() string {
	if a.Worker == "" {
		return fmt.Sprintf("pid %d", a.Pid)
	}
	return fmt.Sprintf("worker %s (pid %d)", a.Worker, a.Pid)
}
