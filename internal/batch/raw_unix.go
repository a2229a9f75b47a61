//go:build unix

package batch

import (
	"io"
	"syscall"
)

// rawConn returns w's raw connection, for writes that must not block: a
// TCP or Unix socket has one; anything else (TLS, a pipe, a simulated
// network) returns nil, and only the writer goroutine writes.
func rawConn(w io.Writer) syscall.RawConn {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// tryWrite writes what the socket takes of b at once, without waiting for
// room, and returns how much that was (an error counts as nothing: the
// writer goroutine, writing the rest, meets it again and reports it).
func tryWrite(rc syscall.RawConn, b []byte) int {
	var n int
	err := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, err := syscall.Write(int(fd), b[n:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil || m <= 0 {
				break
			}
			n += m
		}
		return true // never wait for the socket to be writable
	})
	if err != nil {
		return 0
	}
	return n
}
