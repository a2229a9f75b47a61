package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetherkit/tether/persistent"
)

// Worker is a running child process and the parent's end of the pipe to
// it. It is a net.Conn (the embedded *Pipe: reads come from the child's
// stdout, writes go to its stdin), so raw messages or an rpc connection
// can run over it; whoever closes it stops the child. An rpc.Conn made
// over a Worker therefore owns the child: closing the connection, or losing
// it, stops the child, and its Done is closed only once the child has been
// reaped.
//
// A Worker also satisfies persistent.Connection: Done is closed when the
// child has exited and been reaped, whoever ended it.
//
// All methods are safe for concurrent use.
type Worker struct {
	*Pipe

	cfg  Config
	name string
	proc *os.Process

	tail       tail
	stderrDone chan struct{} // the goroutine reading stderr has returned
	done       chan struct{} // reaped; err is set
	err        error

	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
	termed    atomic.Bool // Close sent SIGTERM
	killed    atomic.Bool // Close sent SIGKILL
}

// Start starts a child as cfg describes and returns once it is running:
// the parent's end of its pipes is ready, and nothing has been exchanged.
// The child does not depend on ctx, which is only checked before starting:
// it runs until it exits or the Worker is closed (or, on Linux, the parent
// dies: see the package doc).
//
// Start fails if cfg is invalid (Func and Path both empty, or Func not
// registered in this binary when Path is empty), if ctx is already done,
// or if the child cannot be started; no child is left running then.
func Start(ctx context.Context, cfg Config) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	name := cfg.name()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("worker %s: %w", name, err)
	}
	cmd, err := command(&cfg)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", name, err)
	}

	// The child's stdin, stdout and stderr. Its ends go to it directly (no
	// copying goroutines) and are closed here once it has them; ours are
	// non-blocking, so they get deadlines.
	var fds []*os.File // in pairs: read end, write end
	closeAll := func(fs ...*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	for range 3 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(fds...)
			return nil, fmt.Errorf("worker %s: %w", name, err)
		}
		fds = append(fds, r, w)
	}
	inR, inW, outR, outW, errR, errW := fds[0], fds[1], fds[2], fds[3], fds[4], fds[5]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW

	release, err := startProcess(cmd)
	closeAll(inR, outW, errW)
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, fmt.Errorf("worker %s: %w", name, err)
	}

	pid := cmd.Process.Pid
	w := &Worker{
		cfg:        cfg,
		name:       name,
		proc:       cmd.Process,
		tail:       tail{max: cfg.StderrTail, copy: cfg.Stderr},
		stderrDone: make(chan struct{}),
		done:       make(chan struct{}),
		closing:    make(chan struct{}),
	}
	w.Pipe = newPipe(outR, inW, &Addr{Pid: os.Getpid()}, &Addr{Worker: name, Pid: pid}, cfg.MaxMessageSize)
	w.Pipe.ended = w.ended
	go func() {
		defer close(w.stderrDone)
		io.Copy(&w.tail, errR)
	}()
	go w.reap(cmd, release, errR)
	cfg.Logger.Debug("worker started", "worker", name, "pid", pid)
	return w, nil
}

// command makes the command for cfg: the current binary with the marker
// variable for a Func, or the binary at Path.
func command(cfg *Config) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	if cfg.Path == "" {
		exe, err := selfExe()
		if err != nil {
			return nil, err
		}
		argv0 := exe
		if len(os.Args) > 0 {
			argv0 = os.Args[0]
		}
		cmd = &exec.Cmd{Path: exe, Args: append([]string{argv0}, cfg.Args...)}
	} else {
		cmd = exec.Command(cfg.Path, cfg.Args...)
		if cmd.Err != nil {
			return nil, cmd.Err
		}
	}
	cmd.Dir = cfg.Dir
	cmd.Env = cfg.Env
	if cfg.Func != "" {
		env := cfg.Env
		if env == nil {
			env = os.Environ()
		}
		cmd.Env = append(slices.Clip(env), envMarker+"="+cfg.Func)
	}
	cmd.ExtraFiles = cfg.ExtraFiles
	return cmd, nil
}

// reap waits for the child to exit, collects the rest of its stderr,
// records how it ended and closes Done.
func (w *Worker) reap(cmd *exec.Cmd, release func(), stderr *os.File) {
	waitErr := cmd.Wait()
	release()
	finishStderr(stderr, w.stderrDone, &w.tail)
	stderr.Close()
	w.err = w.exitError(cmd.ProcessState, waitErr)
	close(w.done)
	w.cfg.Logger.Info("worker exited", "worker", w.name, "pid", w.proc.Pid, "err", w.err)
}

// exitError describes how the child ended: nil for exit status 0.
func (w *Worker) exitError(ps *os.ProcessState, waitErr error) error {
	if ps == nil {
		return fmt.Errorf("worker %s (pid %d): %w", w.name, w.proc.Pid, waitErr)
	}
	if ps.Success() {
		return nil
	}
	e := &ExitError{Name: w.name, Pid: w.proc.Pid, Code: ps.ExitCode(), Stderr: w.tail.String()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
	}
	if e.Signal == syscall.SIGKILL && w.killed.Load() {
		e.Forced, e.Grace = true, w.cfg.Grace
	}
	return e
}

// ended is the pipe's hook for the end of the stream: the child closed its
// stdout or stdin, so it is probably exiting. It waits for that (up to
// Grace, or until Close) and returns the child's *ExitError if it exited
// badly, err otherwise.
func (w *Worker) ended(err error) error {
	select {
	case <-w.done:
	default:
		t := w.cfg.Clock.NewTimer(w.cfg.Grace)
		defer t.Stop()
		select {
		case <-w.done:
		case <-t.Chan():
			return err
		case <-w.closing:
			return err
		}
	}
	if w.err != nil {
		return w.err
	}
	return err
}

// Close stops the child and waits until it has been reaped. It closes the
// child's stdin (the child reads io.EOF: a well-behaved worker exits),
// sends SIGTERM, and if the child is still there after Config.Grace on the
// configured clock, SIGKILL. The end of the pipe that reads the child's
// stdout is closed last, once the child has gone: until then the child's
// writes succeed (its last results, an rpc close) and reads under way get
// them. Calls after the first wait for the same end.
//
// Close returns nil if the child exited with status 0 or of the SIGTERM
// that Close sent; otherwise what Err returns: the *ExitError of a child
// that crashed before Close, exited badly, or had to be killed (Forced).
func (w *Worker) Close() error {
	w.closeOnce.Do(w.stop)
	<-w.done
	var e *ExitError
	if errors.As(w.err, &e) && w.termed.Load() && (e.Signal == syscall.SIGTERM || !hasSIGTERM) {
		return nil
	}
	return w.err
}

func (w *Worker) stop() {
	close(w.closing)
	w.Pipe.CloseWrite()
	// Closing the other end before the child has gone would make its
	// writes fail with EPIPE while it shuts down.
	defer w.Pipe.Close()
	select {
	case <-w.done:
		return
	default:
	}
	w.termed.Store(true)
	terminate(w.proc) // fails only if the child is gone already
	t := w.cfg.Clock.NewTimer(w.cfg.Grace)
	defer t.Stop()
	select {
	case <-w.done:
		return
	case <-t.Chan():
	}
	w.cfg.Logger.Warn("worker did not exit after SIGTERM: killing it", "worker", w.name, "pid", w.proc.Pid, "grace", w.cfg.Grace)
	w.killed.Store(true)
	w.proc.Kill()
	<-w.done
}

// Done is closed once the child has exited and been reaped, and its stderr
// collected, whatever ended it.
func (w *Worker) Done() <-chan struct{} { return w.done }

// IsClosed reports whether Close has been called or the child has exited.
func (w *Worker) IsClosed() bool {
	select {
	case <-w.closing:
		return true
	case <-w.done:
		return true
	default:
		return false
	}
}

// Err returns nil while the child runs, and after it has exited nil if it
// exited with status 0, else its *ExitError (which holds the end of its
// stderr). A child stopped by Close's SIGTERM has an *ExitError with
// Signal set, though Close returns nil for it.
func (w *Worker) Err() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// Pid returns the child's process ID.
func (w *Worker) Pid() int { return w.proc.Pid }

// String returns "worker NAME (pid N)".
func (w *Worker) String() string { return w.Pipe.remote.String() }

var (
	_ net.Conn              = (*Worker)(nil)
	_ persistent.Connection = (*Worker)(nil)
)

// aLongTimeAgo is a deadline that has always passed: setting it interrupts
// blocked reads. noDeadline clears a deadline.
var (
	aLongTimeAgo = time.Unix(1, 0)
	noDeadline   time.Time
)
