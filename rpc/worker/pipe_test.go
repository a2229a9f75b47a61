package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetherkit/tether/rpc/worker"
)

func TestRawMessagesRoundTrip(t *testing.T) {
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Func: "test-echo"})

	for _, msg := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte("x"), 200<<10)} {
		if err := w.WriteMessage(msg); err != nil {
			t.Fatalf("WriteMessage(%d bytes): %v", len(msg), err)
		}
		got, err := w.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(msg), len(got))
		}
	}

	// Concurrent writers: every message arrives whole.
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				if err := w.WriteMessage(fmt.Appendf(nil, "message %d.%d", i, j)); err != nil {
					t.Errorf("WriteMessage: %v", err)
					return
				}
			}
		})
	}
	var got []string
	for range writers * each {
		msg, err := w.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage after %d: %v", len(got), err)
		}
		got = append(got, string(msg))
	}
	wg.Wait()
	var want []string
	for i := range writers {
		for j := range each {
			want = append(want, fmt.Sprintf("message %d.%d", i, j))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the messages echoed differ from those sent")
	}

	// Closing our writing half ends the child's loop: it exits with 0,
	// and our reads end with io.EOF.
	if err := w.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadMessage(); err != io.EOF {
		t.Fatalf("ReadMessage after the child returned: %v, want io.EOF", err)
	}
	waitDone(t, ctx, w)
	if err := w.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
}

func TestMaxMessageSize(t *testing.T) {
	ctx := testContext(t)

	t.Run("write", func(t *testing.T) {
		w := start(t, ctx, worker.Config{Func: "test-echo", MaxMessageSize: 64})
		err := w.WriteMessage(make([]byte, 65))
		var tl *worker.TooLargeError
		if !errors.As(err, &tl) || tl.Size != 65 || tl.Max != 64 || !errors.Is(err, worker.ErrTooLarge) {
			t.Fatalf("WriteMessage(65 bytes) = %v, want a *TooLargeError{65, 64}", err)
		}
		// Nothing was sent: the pipe still works.
		if err := w.WriteMessage(make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
		if msg, err := w.ReadMessage(); err != nil || len(msg) != 64 {
			t.Fatalf("ReadMessage = %d bytes, %v", len(msg), err)
		}
	})

	t.Run("read", func(t *testing.T) {
		w := start(t, ctx, worker.Config{Func: "test-echo"})
		if err := w.WriteMessage(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		w.SetMaxMessageSize(99)
		for range 2 { // and again: the read side is unusable now
			_, err := w.ReadMessage()
			var tl *worker.TooLargeError
			if !errors.As(err, &tl) || tl.Size != 100 || tl.Max != 99 {
				t.Fatalf("ReadMessage = %v, want a *TooLargeError{100, 99}", err)
			}
		}
	})

	t.Run("child", func(t *testing.T) {
		// The child's limit is its own: past it, its ReadMessage fails,
		// and so does the child, saying why.
		w := start(t, ctx, worker.Config{Func: "test-small-max"})
		if err := w.WriteMessage(make([]byte, 17)); err != nil {
			t.Fatal(err)
		}
		waitDone(t, ctx, w)
		e := exitError(t, w.Err())
		if e.Code != 1 || e.Stderr != "worker test-small-max: worker: message of 17 bytes exceeds the maximum of 16" {
			t.Fatalf("child exited with %d, stderr %q", e.Code, e.Stderr)
		}
	})

	t.Run("limits", func(t *testing.T) {
		if _, err := worker.Start(ctx, worker.Config{Func: "test-echo", MaxMessageSize: 1<<30 + 1}); err == nil {
			t.Fatal("Start accepted MaxMessageSize over 1 GiB")
		}
	})
}

// Stray output on the child's stdout goes to its stderr, not into the
// protocol.
func TestStrayStdoutGoesToStderr(t *testing.T) {
	ctx := testContext(t)
	var stderr bytes.Buffer // read only after Done
	w := start(t, ctx, worker.Config{Func: "test-stray-stdout", Stderr: &stderr})
	if err := w.WriteMessage([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if msg, err := w.ReadMessage(); err != nil || string(msg) != "ping" {
		t.Fatalf("ReadMessage = %q, %v", msg, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "a stray line on stdout") {
		t.Fatalf("stderr = %q, want the stray line", stderr.String())
	}
}

func TestArgsEnvDir(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	w := start(t, ctx, worker.Config{
		Func: "test-args",
		Args: []string{"a", "b c"},
		Env:  append(os.Environ(), "WORKER_TEST_X=42"),
		Dir:  dir,
	})
	msg, err := w.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var got argsReport
	if err := json.Unmarshal(msg, &got); err != nil {
		t.Fatal(err)
	}
	want := argsReport{Args: []string{"a", "b c"}, X: "42", Marker: "", Dir: dir}
	if !slices.Equal(got.Args, want.Args) || got.X != want.X || got.Marker != want.Marker || got.Dir != want.Dir {
		t.Fatalf("the child saw %+v, want %+v", got, want)
	}
}

// A given binary that speaks the protocol: cat echoes raw messages.
func TestPathBinary(t *testing.T) {
	if _, err := exec.LookPath("cat"); err != nil {
		t.Skip("no cat in PATH")
	}
	ctx := testContext(t)
	w := start(t, ctx, worker.Config{Path: "cat"})
	if got := w.String(); got != fmt.Sprintf("worker cat (pid %d)", w.Pid()) {
		t.Errorf("String() = %q", got)
	}
	if err := w.WriteMessage([]byte("through cat")); err != nil {
		t.Fatal(err)
	}
	if msg, err := w.ReadMessage(); err != nil || string(msg) != "through cat" {
		t.Fatalf("ReadMessage = %q, %v", msg, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
}

func TestStartErrors(t *testing.T) {
	ctx := testContext(t)
	for _, tc := range []struct {
		cfg  worker.Config
		want string
	}{
		{worker.Config{}, "neither Func nor Path is set"},
		{worker.Config{Func: "no-such-function"}, `no function is registered as "no-such-function"`},
		{worker.Config{Func: "test-echo", Grace: -1}, "negative Grace"},
		{worker.Config{Path: "/nonexistent/worker-binary"}, "worker worker-binary: "},
	} {
		w, err := worker.Start(ctx, tc.cfg)
		if err == nil {
			w.Close()
			t.Errorf("Start(%+v) succeeded", tc.cfg)
			continue
		}
		mustContain(t, err.Error(), tc.want)
	}

	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := worker.Start(done, worker.Config{Func: "test-echo"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a cancelled context = %v, want context.Canceled", err)
	}
}
