//go:build !unix

package batch

import "io"

// rawWriter: without unix sockets, only the writer goroutine writes.
type rawWriter struct{}

func newRawWriter(io.Writer) *rawWriter { return nil }

func (*rawWriter) try([]byte) int { return 0 }
