//go:build !unix

package batch

import (
	"io"
	"syscall"
)

func rawConn(io.Writer) syscall.RawConn { return nil }

func tryWrite(syscall.RawConn, []byte) int { return 0 }
