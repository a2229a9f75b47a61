package worker_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/rpc/worker"
)

func TestRPCOverPipes(t *testing.T) {
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Func: "test-rpc"})
	conn, err := rpc.NewConn(ctx, w, rpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("rpc connection with worker test-rpc (pid %d)", w.Pid()); conn.String() != want {
		t.Errorf("conn.String() = %q, want %q", conn.String(), want)
	}
	if got, err := echoMethod.Call(ctx, conn, "hello"); err != nil || got != "hello" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if pid, err := pidMethod.Call(ctx, conn, struct{}{}); err != nil || pid != w.Pid() {
		t.Fatalf("pid = %d, %v; want %d", pid, err, w.Pid())
	}

	// Many calls at once share the pipe.
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			for j := range 20 {
				s := fmt.Sprintf("call %d.%d", i, j)
				if got, err := echoMethod.Call(ctx, conn, s); err != nil || got != s {
					t.Errorf("echo %q = %q, %v", s, got, err)
					return
				}
			}
		})
	}
	wg.Wait()

	// The connection owns the worker: once it is closed, the child has
	// been reaped, and it exited cleanly.
	if err := conn.Close(); err != nil {
		t.Fatalf("conn.Close() = %v", err)
	}
	select {
	case <-w.Done():
	default:
		t.Fatal("the connection closed before its child was reaped")
	}
	if err := w.Err(); err != nil {
		t.Fatalf("the child ended with %v", err)
	}
}

// A child that dies in the middle of a call: the call fails with the
// connection closed, for a reason that says how the child exited.
func TestRPCCallFailsWithExitStatus(t *testing.T) {
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Func: "test-rpc"})
	conn, err := rpc.NewConn(ctx, w, rpc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = crashMethod.Call(ctx, conn, 3)
	if !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("crash call = %v, want ErrClosed", err)
	}
	mustContain(t, err.Error(), fmt.Sprintf("worker test-rpc (pid %d) exited with status 3: crashing on request", w.Pid()))
	<-conn.Done()
	if e := exitError(t, w.Err()); e.Code != 3 {
		t.Fatalf("Err() = %v", e)
	}
}

// A child that dies before the handshake: the handshake's error carries
// the *ExitError.
func TestRPCHandshakeFailureShowsExit(t *testing.T) {
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Func: "test-crash"})
	_, err := rpc.NewConn(ctx, w, rpc.Config{})
	if !errors.Is(err, rpc.ErrHandshake) {
		t.Fatalf("NewConn = %v, want ErrHandshake", err)
	}
	if e := exitError(t, err); e.Code != 3 {
		t.Fatalf("NewConn = %v, want the exit with status 3", err)
	}
}
