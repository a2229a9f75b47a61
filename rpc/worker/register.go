package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
)

// envMarker is the environment variable that tells Main which registered
// function to run: Start sets it in a Func worker's environment.
const envMarker = "TETHER_WORKER"

var registry struct {
	sync.Mutex
	fns map[string]func(context.Context, *Pipe) error
}

// Register makes fn runnable in a child under name: Start with Config.Func
// set to name starts this binary again, and Main runs fn there. Register
// in an init function, or in main before calling Main, so that the parent
// and the child both have it. It panics if name is empty, fn is nil or
// name is taken.
//
// fn gets the child's end of the pipe and a context that is cancelled when
// the child receives SIGTERM (as from Worker.Close); see Main for what its
// result does.
func Register(name string, fn func(ctx context.Context, p *Pipe) error) {
	if name == "" || fn == nil {
		panic("worker: Register with an empty name or a nil function")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, taken := registry.fns[name]; taken {
		panic("worker: Register called twice for " + name)
	}
	if registry.fns == nil {
		registry.fns = make(map[string]func(context.Context, *Pipe) error)
	}
	registry.fns[name] = fn
}

func lookup(name string) func(context.Context, *Pipe) error {
	registry.Lock()
	defer registry.Unlock()
	return registry.fns[name]
}

// Main runs this process as a worker if Start started it as one, and
// returns at once otherwise. Call it first thing in main (and in TestMain,
// for tests that start Func workers), after the functions have been
// registered.
//
// In a worker, Main never returns. It takes the pipes to the parent from
// stdin and stdout and leaves /dev/null and a copy of stderr in their
// place (on Unix), so that stray output cannot corrupt the protocol; it
// runs the registered function and exits with:
//
//   - 0 if the function returned nil, or an error wrapping
//     context.Canceled after SIGTERM cancelled its context;
//   - 1 if it returned an error, after writing the error to stderr;
//   - 2 if it panicked, after writing the stack and then the panic value to
//     stderr (last, so that the stderr tail in the parent's *ExitError
//     shows it), or if it could not run (unknown name, no pipes).
func Main() {
	name, ok := os.LookupEnv(envMarker)
	if !ok {
		return
	}
	os.Unsetenv(envMarker) // not for the worker's own children
	os.Exit(runChild(name))
}

func runChild(name string) (code int) {
	fn := lookup(name)
	if fn == nil {
		fmt.Fprintf(os.Stderr, "worker: no function is registered as %q in %s\n", name, os.Args[0])
		return 2
	}
	r, w, err := childStdio()
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker %s: taking the pipes from stdin and stdout: %v\n", name, err)
		return 2
	}
	p := newPipe(r, w, &Addr{Worker: name, Pid: os.Getpid()}, &Addr{Pid: os.Getppid()}, 0)
	defer p.Close()
	// SIGTERM stays caught until the exit, so that the status is the
	// function's even when SIGTERM comes after it returned.
	ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(os.Stderr, "%s\npanic: %v\n", debug.Stack(), v)
			code = 2
		}
	}()
	err = fn(ctx, p)
	if err == nil || ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return 0
	}
	fmt.Fprintf(os.Stderr, "worker %s: %v\n", name, err)
	return 1
}
