//go:build unix

package worker

import (
	"io"
	"os"
	"syscall"
)

// childStdio takes the protocol pipes from file descriptors 0 and 1 for
// Main, and leaves in their place /dev/null and a copy of stderr, so that
// nothing else in the child (a stray fmt.Println, C code, a subprocess
// given os.Stdout) can read the parent's messages or write into the
// protocol: what it prints goes to stderr, where the parent collects it.
// The pipes are made non-blocking, so that they get deadlines from the
// runtime's poller.
func childStdio() (r, w *os.File, err error) {
	in, err := dupCloexec(0)
	if err != nil {
		return nil, nil, err
	}
	out, err := dupCloexec(1)
	if err != nil {
		syscall.Close(in)
		return nil, nil, err
	}
	// Best effort: where dupTo is unsupported the protocol stays on 0 and 1
	// as well.
	if null, err := os.Open(os.DevNull); err == nil {
		dupTo(int(null.Fd()), 0)
		null.Close()
	}
	dupTo(2, 1)
	for _, fd := range []int{in, out} {
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(in)
			syscall.Close(out)
			return nil, nil, err
		}
	}
	return os.NewFile(uintptr(in), "worker stdin"), os.NewFile(uintptr(out), "worker stdout"), nil
}

// dupCloexec duplicates fd as a descriptor that children do not inherit.
// Holding ForkLock keeps a concurrent fork from inheriting it in between.
func dupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return -1, os.NewSyscallError("dup", err)
	}
	syscall.CloseOnExec(nfd)
	return nfd, nil
}

// hasSIGTERM says that terminate sends SIGTERM.
const hasSIGTERM = true

// terminate asks p to stop: SIGTERM.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// maxDrain bounds what finishStderr reads after the child has gone, in case
// a grandchild that inherited stderr keeps writing.
const maxDrain = 1 << 20

// finishStderr ends the reading of the child's stderr, which has exited:
// everything it wrote is in the pipe by now, but the pipe's write end may
// live on in a grandchild, so EOF may never come. It stops the reading
// goroutine (a read deadline in the past; done is closed when it has
// returned) and reads what is left without waiting, into t.
func finishStderr(f *os.File, done <-chan struct{}, t io.Writer) {
	select {
	case <-done:
		return // EOF came
	default:
	}
	f.SetReadDeadline(aLongTimeAgo)
	<-done
	f.SetReadDeadline(noDeadline)
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	total := 0
	rc.Read(func(fd uintptr) bool {
		for total < maxDrain {
			n, err := syscall.Read(int(fd), buf)
			if n > 0 {
				t.Write(buf[:n])
				total += n
				continue
			}
			if err == syscall.EINTR {
				continue
			}
			break // EOF, or nothing more for now (EAGAIN)
		}
		return true // never wait for more
	})
}
