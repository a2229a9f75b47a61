package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
)

// The end-to-end tests run the tether binary, built once by TestMain, as
// real processes talking over loopback.

// patience bounds every wait: generous, since the machine may be loaded.
const patience = 60 * time.Second

var tetherBin string // built by TestMain

// buildTether builds the command into dir.
func buildTether(dir string) (string, error) {
	bin := filepath.Join(dir, "tether")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

func patientCtx(t *testing.T) context.Context {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), patience)
	t.Cleanup(cancel)
	return ctx
}

// tenv is a config file of its own for a test.
type tenv struct {
	t      *testing.T
	dir    string
	config string
}

func newEnv(t *testing.T) *tenv {
	if tetherBin == "" {
		t.Skip("the tether binary was not built")
	}
	dir := t.TempDir()
	return &tenv{t: t, dir: dir, config: filepath.Join(dir, "config.json")}
}

func (te *tenv) command(args ...string) *exec.Cmd {
	cmd := exec.Command(tetherBin, args...)
	cmd.Env = append(os.Environ(), "TETHER_CONFIG="+te.config, "TETHER_PROFILE=")
	cmd.Dir = te.dir
	return cmd
}

// result is what a finished command printed, and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs tether to the end.
func (te *tenv) run(args ...string) result {
	te.t.Helper()
	p := te.start(args...)
	code := p.wait()
	return result{p.out.text(), p.err.text(), code}
}

// ok runs tether and fails the test unless it exits 0; it returns stdout.
func (te *tenv) ok(args ...string) string {
	te.t.Helper()
	r := te.run(args...)
	if r.code != 0 {
		te.t.Fatalf("tether %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

// proc is a tether process.
type proc struct {
	t        *testing.T
	args     []string
	cmd      *exec.Cmd
	out, err *lines
	done     chan struct{}
	code     int
}

// start starts tether in the background; the test's end kills it if it
// still runs.
func (te *tenv) start(args ...string) *proc {
	te.t.Helper()
	p := &proc{t: te.t, args: args, cmd: te.command(args...), out: newLines(), err: newLines(), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	if err := p.cmd.Start(); err != nil {
		te.t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		p.out.close()
		p.err.close()
		close(p.done)
	}()
	te.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-patientCtx(p.t).Done():
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("tether %s did not exit\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), p.out.text(), p.err.text())
		return -1
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitLine waits until the stream has a line containing want, and returns
// that line.
func (p *proc) waitLine(l *lines, want string) string {
	p.t.Helper()
	line, ok := l.waitFor(patientCtx(p.t), want)
	if !ok {
		p.t.Fatalf("tether %s: no line with %q\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), want, p.out.text(), p.err.text())
	}
	return line
}

// lines collects what a process writes, and tells waiters of every line.
type lines struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on each write
	closed  bool
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lines) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits for a whole line containing want.
func (l *lines) waitFor(ctx context.Context, want string) (string, bool) {
	for {
		l.mu.Lock()
		text, ch, closed := l.buf.String(), l.changed, l.closed
		l.mu.Unlock()
		for _, line := range strings.SplitAfter(text, "\n") {
			if strings.HasSuffix(line, "\n") && strings.Contains(line, want) {
				return strings.TrimSuffix(line, "\n"), true
			}
		}
		if closed {
			return "", false
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", false
		}
	}
}

// liveNode is a `tether run` process, started and ready.
type liveNode struct {
	*proc
	id, addr string
}

// node starts `tether run -log json ARGS…` and waits until the node has
// started.
func (te *tenv) node(args ...string) *liveNode {
	te.t.Helper()
	p := te.start(append([]string{"run", "-log", "json"}, args...)...)
	line := p.waitLine(p.err, `"msg":"node started"`)
	var rec struct {
		Node  string `json:"node"`
		Addrs string `json:"addrs"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		te.t.Fatalf("log line %q: %v", line, err)
	}
	return &liveNode{proc: p, id: rec.Node, addr: strings.Split(rec.Addrs, ",")[0]}
}

// stop interrupts the node as Ctrl-C does and checks that it closed
// cleanly, exiting 130.
func (n *liveNode) stop() {
	n.t.Helper()
	n.signal(syscall.SIGINT)
	if code := n.wait(); code != 130 {
		n.t.Fatalf("tether run exited %d after SIGINT, want 130\n%s", code, n.err.text())
	}
	if !strings.Contains(n.err.text(), `"msg":"node closed"`) {
		n.t.Fatalf("no clean close in the log:\n%s", n.err.text())
	}
}

// fileState is a file's bytes, to check that a failed command left it
// alone.
func fileState(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
