//go:build unix

package batch

import (
	"io"
	"syscall"
)

// rawWriter makes the writes that must not block, on a socket's raw
// connection. Its buffer and callback are fields, so that a write
// allocates nothing; one write at a time (the Writer's busy flag).
type rawWriter struct {
	rc syscall.RawConn
	b  []byte
	n  int
	fn func(fd uintptr) bool // write, bound once
}

// newRawWriter returns a rawWriter for w: a TCP or Unix socket has a raw
// connection; anything else (TLS, a pipe, a simulated network) returns
// nil, and only the writer goroutine writes.
func newRawWriter(w io.Writer) *rawWriter {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawWriter{rc: rc}
	r.fn = r.write
	return r
}

// try writes what the socket takes of b at once, without waiting for
// room, and returns how much that was (an error counts as nothing: the
// writer goroutine, writing the rest, meets it again and reports it).
func (r *rawWriter) try(b []byte) int {
	r.b, r.n = b, 0
	err := r.rc.Write(r.fn)
	n := r.n
	r.b = nil
	if err != nil {
		return 0
	}
	return n
}

func (r *rawWriter) write(fd uintptr) bool {
	for r.n < len(r.b) {
		m, err := syscall.Write(int(fd), r.b[r.n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			break
		}
		r.n += m
	}
	return true // never wait for the socket to be writable
}
