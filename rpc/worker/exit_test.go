//go:build unix

package worker_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/rpc/worker"
)

// A crash: the exit status and the end of stderr are in the error, from
// Err, from the reads that find the child gone, and from Close.
func TestCrashReportsStatusAndStderrTail(t *testing.T) {
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Func: "test-crash"})
	_, readErr := w.ReadMessage()
	waitDone(t, ctx, w)

	e := exitError(t, w.Err())
	if e.Code != 3 || e.Signal != 0 || e.Forced || e.Pid != w.Pid() || e.Name != "test-crash" {
		t.Fatalf("ExitError %+v, want status 3 for pid %d", e, w.Pid())
	}
	if !strings.HasSuffix(e.Stderr, "line 999\nboom: disk on fire") {
		t.Errorf("stderr tail does not end with the last lines: ...%q", e.Stderr[max(0, len(e.Stderr)-80):])
	}
	if !strings.HasPrefix(e.Stderr, "...") || len(e.Stderr) > worker.DefaultStderrTail+len("...") {
		t.Errorf("stderr tail of %d bytes, want the last %d bytes after \"...\"", len(e.Stderr), worker.DefaultStderrTail)
	}
	if want := fmt.Sprintf("worker test-crash (pid %d) exited with status 3: %s", w.Pid(), e.Stderr); e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if exitError(t, readErr) != e {
		t.Errorf("ReadMessage failed with %v, want the ExitError", readErr)
	}
	if err := w.Close(); exitError(t, err) != e {
		t.Errorf("Close() = %v, want the ExitError", err)
	}
}

func TestStderrTailSize(t *testing.T) {
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Func: "test-crash", StderrTail: 20})
	waitDone(t, ctx, w)
	// 20 bytes: "\nboom: disk on fire\n" less the line feeds, after "...".
	if got := exitError(t, w.Err()).Stderr; got != "...boom: disk on fire" {
		t.Fatalf("stderr tail %q", got)
	}

	w = start(t, ctx, worker.Config{Func: "test-crash", StderrTail: -1})
	waitDone(t, ctx, w)
	e := exitError(t, w.Err())
	if e.Stderr != "" || e.Error() != fmt.Sprintf("worker test-crash (pid %d) exited with status 3", w.Pid()) {
		t.Fatalf("with no tail kept: %q", e.Error())
	}
}

func TestFunctionErrorAndPanic(t *testing.T) {
	ctx := testContext(t)

	w := start(t, ctx, worker.Config{Func: "test-fail"})
	waitDone(t, ctx, w)
	if e := exitError(t, w.Err()); e.Code != 1 || e.Stderr != "worker test-fail: no luck" {
		t.Fatalf("a function's error: %v", e)
	}

	w = start(t, ctx, worker.Config{Func: "test-panic"})
	waitDone(t, ctx, w)
	e := exitError(t, w.Err())
	if e.Code != 2 || !strings.HasSuffix(e.Stderr, "panic: kaboom") || !strings.Contains(e.Stderr, "goroutine ") {
		t.Fatalf("a panic: status %d, stderr %q", e.Code, e.Stderr)
	}
}

// Close: the child honours SIGTERM (Main cancels the function's context)
// and exits with status 0.
func TestCloseSIGTERM(t *testing.T) {
	ctx := testContext(t)
	var stderr bytes.Buffer // read after Done
	w := start(t, ctx, worker.Config{Func: "test-wait-term", Stderr: &stderr})
	if msg, err := w.ReadMessage(); err != nil || string(msg) != "ready" {
		t.Fatalf("ReadMessage = %q, %v", msg, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if err := w.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil: the child exited cleanly", err)
	}
	if !strings.Contains(stderr.String(), "got SIGTERM") {
		t.Fatalf("stderr %q: the function did not see SIGTERM", stderr.String())
	}
	if !w.IsClosed() {
		t.Error("IsClosed() = false after Close")
	}
}

// Close: a child with SIGTERM's default action dies of it; that is a
// clean close too.
func TestCloseSIGTERMDefaultAction(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep in PATH")
	}
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Path: "sleep", Args: []string{"1000"}})
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if e := exitError(t, w.Err()); e.Signal != syscall.SIGTERM || e.Forced {
		t.Fatalf("Err() = %v, want death by SIGTERM", e)
	}
}

// Close: a child that ignores SIGTERM is killed with SIGKILL once Grace has
// passed on the worker's clock, and not before.
func TestCloseSIGKILLAfterGrace(t *testing.T) {
	ctx := testContext(t)
	fc := clock.NewFake(t0)
	w := start(t, ctx, worker.Config{Func: "test-ignore-term", Clock: fc, Grace: 5 * time.Second})
	if msg, err := w.ReadMessage(); err != nil || string(msg) != "ready" {
		t.Fatalf("ReadMessage = %q, %v", msg, err)
	}

	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	// Close has sent SIGTERM and waits for the grace period.
	if err := fc.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(5*time.Second - time.Nanosecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned before the grace period was over: %v", err)
	case <-w.Done():
		t.Fatalf("the child exited before the grace period was over: %v", w.Err())
	default:
	}
	fc.Advance(time.Nanosecond)

	err := receive(t, ctx, closed)
	e := exitError(t, err)
	if e.Signal != syscall.SIGKILL || !e.Forced || e.Grace != 5*time.Second {
		t.Fatalf("Close() = %v (%+v), want a forced SIGKILL", err, e)
	}
	mustContain(t, e.Error(), "did not exit within 5s of SIGTERM and was killed by SIGKILL")
	if !errors.Is(w.Err(), e) {
		t.Errorf("Err() = %v, want the same ExitError", w.Err())
	}
}

// Close closes the child's stdin first and reads its stdout to the end: what
// the child writes while it shuts down arrives.
func TestCloseKeepsReadingUntilExit(t *testing.T) {
	ctx := testContext(t)
	fc := clock.NewFake(t0)
	w := start(t, ctx, worker.Config{Func: "test-last-words", Clock: fc, Grace: time.Second})
	if msg, err := w.ReadMessage(); err != nil || string(msg) != "ready" {
		t.Fatalf("ReadMessage = %q, %v", msg, err)
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	if msg, err := w.ReadMessage(); err != nil || string(msg) != "bye" {
		t.Fatalf("ReadMessage during Close = %q, %v; want the child's last words", msg, err)
	}
	if err := fc.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Second)
	if e := exitError(t, receive(t, ctx, closed)); !e.Forced {
		t.Fatalf("Close() = %v, want a forced kill", e)
	}
	if _, err := w.ReadMessage(); err == nil {
		t.Fatal("ReadMessage after Close succeeded")
	}
}
