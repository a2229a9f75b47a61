//go:build linux

package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/tetherkit/tether/rpc/worker"
)

func init() {
	// Starts a grandchild that ignores SIGTERM and its pipe, hands it the
	// test's pipe (fd 3), reports its pid, and waits to be killed.
	worker.Register("test-intermediate", func(ctx context.Context, p *worker.Pipe) error {
		held := os.NewFile(3, "held by the grandchild")
		g, err := worker.Start(ctx, worker.Config{Func: "test-ignore-term", ExtraFiles: []*os.File{held}})
		if err != nil {
			return err
		}
		held.Close()
		if _, err := g.ReadMessage(); err != nil {
			return fmt.Errorf("grandchild: %w", err)
		}
		if err := p.WriteMessage([]byte(strconv.Itoa(g.Pid()))); err != nil {
			return err
		}
		<-ctx.Done()
		return g.Close()
	})
}

// The parent dies (SIGKILL: no chance to clean up): its worker dies too.
func TestParentDeathKillsWorker(t *testing.T) {
	ctx := testContext(t)
	// The grandchild holds the write end of this pipe: EOF on the read end
	// means it has exited.
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mid := start(t, ctx, worker.Config{Func: "test-intermediate", ExtraFiles: []*os.File{wr}})
	wr.Close()
	msg, err := mid.ReadMessage()
	if err != nil {
		t.Fatalf("intermediate: %v", err)
	}
	pid, _ := strconv.Atoi(string(msg))
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) }) // if the test fails

	if err := syscall.Kill(mid.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDone(t, ctx, mid)
	if e := exitError(t, mid.Err()); e.Signal != syscall.SIGKILL || e.Forced {
		t.Fatalf("intermediate: %v", e)
	}

	deadline, _ := ctx.Deadline()
	r.SetReadDeadline(deadline)
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("grandchild %d still alive after its parent was killed: %v", pid, err)
	}
}

// Pdeathsig fires when the thread that forked the child exits. A worker
// started from a goroutine that ends locked to its thread, which ends the
// thread, must live on.
func TestWorkerOutlivesTheThreadThatStartedIt(t *testing.T) {
	ctx := testContext(t)

	t.Run("control", func(t *testing.T) {
		// Without the spawning thread, the hazard is real: a child forked
		// with Pdeathsig from such a thread dies with it.
		if _, err := exec.LookPath("sleep"); err != nil {
			t.Skip("no sleep in PATH")
		}
		cmd := exec.Command("sleep", "1000")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		tid, pidfd := onExitingThread(t, func() {
			if err := cmd.Start(); err != nil {
				t.Error(err)
			}
		})
		if t.Failed() {
			return
		}
		waitThreadExit(t, ctx, tid, pidfd)
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err := <-waited:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child ended with %v, want SIGKILL", err)
			}
		case <-ctx.Done():
			cmd.Process.Kill()
			<-waited
			t.Fatal("the child outlived its thread: this kernel does not have the hazard")
		}
	})

	var w *worker.Worker
	tid, pidfd := onExitingThread(t, func() {
		var err error
		if w, err = worker.Start(ctx, worker.Config{Func: "test-echo"}); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		return
	}
	defer w.Close()
	waitThreadExit(t, ctx, tid, pidfd)
	// The thread is gone, so its death signal, if any, has been sent.
	if err := w.WriteMessage([]byte("still here?")); err != nil {
		t.Fatal(err)
	}
	if msg, err := w.ReadMessage(); err != nil || string(msg) != "still here?" {
		t.Fatalf("the worker died with the thread that started it: %q, %v", msg, err)
	}
	select {
	case <-w.Done():
		t.Fatalf("the worker died with the thread that started it: %v", w.Err())
	default:
	}
}

// onExitingThread runs f on a goroutine locked to a thread that exits when
// it returns, and returns the thread's ID and a pidfd for it. The main
// thread never exits (the runtime parks it instead), so it is avoided: a
// goroutine that lands on it keeps it, locked, until the end, so that the
// next try runs on another thread even with GOMAXPROCS=1.
func onExitingThread(t *testing.T, f func()) (tid int, pidfd *os.File) {
	t.Helper()
	type result struct {
		tid   int
		pidfd *os.File
		err   error
	}
	hold := make(chan struct{})
	defer close(hold)
	for {
		ch := make(chan result)
		go func() {
			runtime.LockOSThread() // never unlocked on another thread: it exits with this goroutine
			tid := syscall.Gettid()
			if tid == syscall.Getpid() {
				ch <- result{}
				<-hold
				runtime.UnlockOSThread()
				return
			}
			// pidfd_open(tid, PIDFD_THREAD | PIDFD_NONBLOCK): Linux 6.9.
			fd, _, errno := syscall.Syscall(434, uintptr(tid), syscall.O_EXCL|syscall.O_NONBLOCK, 0)
			if errno != 0 {
				ch <- result{err: os.NewSyscallError("pidfd_open", errno)}
				return
			}
			f()
			ch <- result{tid: tid, pidfd: os.NewFile(fd, "pidfd")}
		}()
		r := <-ch
		if r.err != nil {
			t.Skipf("cannot watch a thread's exit: %v (PIDFD_THREAD needs Linux 6.9)", r.err)
		}
		if r.tid != 0 {
			return r.tid, r.pidfd
		}
	}
}

// waitThreadExit waits, through the runtime's poller, for the pidfd of
// thread tid to become readable and the thread to be gone.
func waitThreadExit(t *testing.T, ctx context.Context, tid int, pidfd *os.File) {
	t.Helper()
	defer pidfd.Close()
	deadline, _ := ctx.Deadline()
	pidfd.SetReadDeadline(deadline)
	rc, err := pidfd.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	err = rc.Read(func(uintptr) bool {
		_, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid))
		return errors.Is(err, os.ErrNotExist)
	})
	if err != nil {
		t.Fatalf("thread %d did not exit: %v", tid, err)
	}
}
