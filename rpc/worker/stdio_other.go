//go:build !unix

package worker

import (
	"io"
	"os"
)

// childStdio returns stdin and stdout as they are: without Unix file
// descriptors to move, deadlines on the child's pipe are not supported
// here, and what the child prints to stdout goes into the protocol.
func childStdio() (r, w *os.File, err error) { return os.Stdin, os.Stdout, nil }

// hasSIGTERM says that terminate sends SIGTERM.
const hasSIGTERM = false

// terminate stops p at once: there is no SIGTERM to send.
func terminate(p *os.Process) error { return p.Kill() }

// finishStderr waits for the child's stderr to reach EOF.
func finishStderr(f *os.File, done <-chan struct{}, t io.Writer) { <-done }
