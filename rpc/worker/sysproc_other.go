//go:build !linux

package worker

import (
	"os"
	"os/exec"
)

// Outside Linux there is no Pdeathsig (FreeBSD has an equivalent that
// package syscall does not expose): a worker outlives a parent that dies
// without closing it, until it notices that its stdin has closed (Serve
// returns then, and so does a function that reads until io.EOF).

// startProcess starts cmd. On success, release must be called once the
// child has been reaped.
func startProcess(cmd *exec.Cmd) (release func(), err error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() {}, nil
}

// selfExe returns the path of the running binary.
func selfExe() (string, error) { return os.Executable() }
