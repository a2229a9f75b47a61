package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/rpc/worker"
)

// TestMain lets the test binary be its own worker: started with the marker,
// it runs one of the functions registered below and exits.
func TestMain(m *testing.M) {
	worker.Main()
	// Children built with -race would otherwise sleep a second on exit (to
	// let other threads report): a race in a child still fails the test,
	// through its exit status 66 and the report in its stderr tail.
	if _, set := os.LookupEnv("GORACE"); !set {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Methods the "test-rpc" worker serves.
var (
	echoMethod  = rpc.NewMethod[string, string]("echo", 1)
	pidMethod   = rpc.NewMethod[struct{}, int]("pid", 1)
	crashMethod = rpc.NewMethod[int, struct{}]("crash", 1) // exits with the given status
)

func init() {
	// Echoes raw messages until the parent closes its end.
	worker.Register("test-echo", echoMessages)

	// Prints to stdout, which must not reach the protocol, then echoes.
	worker.Register("test-stray-stdout", func(ctx context.Context, p *worker.Pipe) error {
		fmt.Println("a stray line on stdout")
		return echoMessages(ctx, p)
	})

	// Reports its arguments, environment and directory.
	worker.Register("test-args", func(ctx context.Context, p *worker.Pipe) error {
		wd, _ := os.Getwd()
		b, _ := json.Marshal(argsReport{
			Args:   os.Args[1:],
			X:      os.Getenv("WORKER_TEST_X"),
			Marker: os.Getenv("TETHER_WORKER"),
			Dir:    wd,
		})
		return p.WriteMessage(b)
	})

	// Accepts only tiny messages.
	worker.Register("test-small-max", func(ctx context.Context, p *worker.Pipe) error {
		p.SetMaxMessageSize(16)
		_, err := p.ReadMessage()
		return err
	})

	// Serves rpc.
	worker.Register("test-rpc", func(ctx context.Context, p *worker.Pipe) error {
		hs := new(rpc.Handlers)
		echoMethod.Implement(hs, func(ctx context.Context, s string) (string, error) { return s, nil })
		pidMethod.Implement(hs, func(context.Context, struct{}) (int, error) { return os.Getpid(), nil })
		crashMethod.Implement(hs, func(ctx context.Context, code int) (struct{}, error) {
			fmt.Fprintln(os.Stderr, "crashing on request")
			os.Exit(code)
			return struct{}{}, nil
		})
		return worker.Serve(ctx, p, rpc.Config{Handlers: hs})
	})

	// Writes much to stderr, then exits with status 3.
	worker.Register("test-crash", func(ctx context.Context, p *worker.Pipe) error {
		for i := range 1000 {
			fmt.Fprintf(os.Stderr, "line %d\n", i)
		}
		fmt.Fprintln(os.Stderr, "boom: disk on fire")
		os.Exit(3)
		return nil
	})

	worker.Register("test-fail", func(ctx context.Context, p *worker.Pipe) error {
		return errors.New("no luck")
	})

	worker.Register("test-panic", func(ctx context.Context, p *worker.Pipe) error {
		panic("kaboom")
	})

	// Says it is ready, then waits for SIGTERM and exits cleanly.
	worker.Register("test-wait-term", func(ctx context.Context, p *worker.Pipe) error {
		if err := p.WriteMessage([]byte("ready")); err != nil {
			return err
		}
		<-ctx.Done()
		fmt.Fprintln(os.Stderr, "got SIGTERM")
		return ctx.Err()
	})

	// When its stdin closes, says goodbye; ignores SIGTERM.
	worker.Register("test-last-words", func(ctx context.Context, p *worker.Pipe) error {
		signal.Ignore(syscall.SIGTERM)
		if err := p.WriteMessage([]byte("ready")); err != nil {
			return err
		}
		if _, err := p.ReadMessage(); err != io.EOF {
			return fmt.Errorf("ReadMessage = %v, want io.EOF", err)
		}
		if err := p.WriteMessage([]byte("bye")); err != nil {
			return err
		}
		select {}
	})

	// Ignores SIGTERM and its pipe: only SIGKILL ends it.
	worker.Register("test-ignore-term", func(ctx context.Context, p *worker.Pipe) error {
		signal.Ignore(syscall.SIGTERM)
		if err := p.WriteMessage([]byte("ready")); err != nil {
			return err
		}
		select {}
	})
}

func echoMessages(ctx context.Context, p *worker.Pipe) error {
	for {
		msg, err := p.ReadMessage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := p.WriteMessage(msg); err != nil {
			return err
		}
	}
}

type argsReport struct {
	Args   []string
	X      string
	Marker string
	Dir    string
}

// testContext returns a context that ends after a generous deadline, to
// bound every wait of a test.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// start starts a worker that the test closes at its end.
func start(t *testing.T, ctx context.Context, cfg worker.Config) *worker.Worker {
	t.Helper()
	w, err := worker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// waitDone waits for the worker's child to have been reaped.
func waitDone(t *testing.T, ctx context.Context, w *worker.Worker) {
	t.Helper()
	select {
	case <-w.Done():
	case <-ctx.Done():
		t.Fatalf("%v: Done not closed: %v", w, ctx.Err())
	}
}

// receive waits for a value from ch.
func receive[T any](t *testing.T, ctx context.Context, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("nothing received: %v", ctx.Err())
		panic("unreachable")
	}
}

// exitError returns err as an *ExitError, or fails the test.
func exitError(t *testing.T, err error) *worker.ExitError {
	t.Helper()
	var e *worker.ExitError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *ExitError", err, err)
	}
	return e
}

func mustContain(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, part := range parts {
		if !strings.Contains(s, part) {
			t.Errorf("%q does not contain %q", s, part)
		}
	}
}
