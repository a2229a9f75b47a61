package addr_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetherkit/tether/addr"
)

// catalog returns the path of a catalog file in a fresh directory.
func catalog(t *testing.T) string {
	return filepath.Join(t.TempDir(), "servers.json")
}

func writeCatalog[A any](t *testing.T, path string, addrs ...A) {
	t.Helper()
	if err := addr.WriteFile(path, addrs); err != nil {
		t.Fatal(err)
	}
}

// wantFileError checks that err is an *addr.Error naming the file at path
// and wrapping target.
func wantFileError(t *testing.T, err error, path string, target error) {
	t.Helper()
	var ae *addr.Error
	if !errors.As(err, &ae) || ae.Resolver != "file "+path {
		t.Fatalf("err = %v, want *addr.Error naming file %s", err, path)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("message %q does not name the file", err)
	}
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want it to wrap %v", err, target)
	}
}

func TestFileRotation(t *testing.T) {
	path := catalog(t)
	writeCatalog(t, path, "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003")
	f := addr.NewFile[string](path)
	want := []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003", "127.0.0.1:7001", "127.0.0.1:7002"}
	if got := resolveN(t, f, len(want)); !slices.Equal(got, want) {
		t.Fatalf("Resolve sequence %v, want %v", got, want)
	}
}

func TestFileRewritePickedUp(t *testing.T) {
	path := catalog(t)
	writeCatalog(t, path, "a:1", "b:1", "c:1")
	f := addr.NewFile[string](path)
	resolveN(t, f, 2)
	writeCatalog(t, path, "x:2", "y:2")
	if got, want := resolveN(t, f, 3), []string{"x:2", "y:2", "x:2"}; !slices.Equal(got, want) {
		t.Fatalf("after the rewrite: %v, want %v", got, want)
	}
}

// Rewriting the same catalog (a server re-announcing itself) does not send
// every client back to the first entry.
func TestFileIdenticalRewriteKeepsRotation(t *testing.T) {
	path := catalog(t)
	writeCatalog(t, path, "a:1", "b:1", "c:1")
	f := addr.NewFile[string](path)
	resolveN(t, f, 1)
	writeCatalog(t, path, "a:1", "b:1", "c:1")
	if got, want := resolveN(t, f, 3), []string{"b:1", "c:1", "a:1"}; !slices.Equal(got, want) {
		t.Fatalf("after an identical rewrite: %v, want %v", got, want)
	}
}

func TestFileMissing(t *testing.T) {
	path := catalog(t)
	f := addr.NewFile[string](path)
	_, err := f.Resolve(context.Background())
	wantFileError(t, err, path, fs.ErrNotExist)

	writeCatalog(t, path, "a:1") // the file appears later
	if got := resolveN(t, f, 1)[0]; got != "a:1" {
		t.Fatalf("once the file exists: %q", got)
	}
}

func TestFileMalformed(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":     `["a:1", "b:`,
		"empty file":    ``,
		"object":        `{"a": 1}`,
		"wrong element": `[1, 2]`,
		"trailing data": `["a:1"] ["b:1"]`,
		"not json":      `a:1, b:1`,
	} {
		t.Run(name, func(t *testing.T) {
			path := catalog(t)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := addr.NewFile[string](path).Resolve(context.Background())
			wantFileError(t, err, path, addr.ErrMalformed)
			if _, err := addr.ReadFile[string](path); !errors.Is(err, addr.ErrMalformed) {
				t.Fatalf("ReadFile: err = %v, want ErrMalformed", err)
			}
		})
	}
	// The decoder's own error is there too.
	path := catalog(t)
	if err := os.WriteFile(path, []byte(`[x]`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := addr.NewFile[string](path).Resolve(context.Background())
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *json.SyntaxError inside", err)
	}
}

// Once the file breaks, Resolve reports it instead of serving the last good
// list, on every call, until the file is fixed.
func TestFileBrokenIsNotServedStale(t *testing.T) {
	path := catalog(t)
	writeCatalog(t, path, "a:1", "b:1")
	f := addr.NewFile[string](path)
	resolveN(t, f, 1)

	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, err := f.Resolve(context.Background())
		wantFileError(t, err, path, addr.ErrMalformed)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err := f.Resolve(context.Background())
	wantFileError(t, err, path, fs.ErrNotExist)

	writeCatalog(t, path, "a:1", "b:1")
	if got, want := resolveN(t, f, 2), []string{"a:1", "b:1"}; !slices.Equal(got, want) {
		t.Fatalf("after the fix: %v, want %v (rotation from the start)", got, want)
	}
}

func TestFileEmpty(t *testing.T) {
	for name, content := range map[string]string{"empty array": "[]", "null": "null\n"} {
		t.Run(name, func(t *testing.T) {
			path := catalog(t)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := addr.NewFile[string](path).Resolve(context.Background())
			wantFileError(t, err, path, addr.ErrNoAddresses)
		})
	}
	t.Run("WriteFile(nil)", func(t *testing.T) {
		path := catalog(t)
		if err := addr.WriteFile[string](path, nil); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(path); strings.TrimSpace(string(data)) != "[]" {
			t.Fatalf("WriteFile(nil) wrote %q, want []", data)
		}
		_, err := addr.NewFile[string](path).Resolve(context.Background())
		wantFileError(t, err, path, addr.ErrNoAddresses)
	})
}

func TestFileTooLarge(t *testing.T) {
	path := catalog(t)
	// A valid catalog, padded with white space to one byte over the limit.
	data := []byte(`["a:1"]`)
	data = append(data, strings.Repeat(" ", addr.MaxFileSize+1-len(data))...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := addr.NewFile[string](path).Resolve(context.Background())
	wantFileError(t, err, path, addr.ErrTooLarge)
	if _, err := addr.ReadFile[string](path); !errors.Is(err, addr.ErrTooLarge) {
		t.Fatalf("ReadFile: err = %v, want ErrTooLarge", err)
	}

	// Exactly at the limit is fine.
	if err := os.WriteFile(path, data[:addr.MaxFileSize], 0o644); err != nil {
		t.Fatal(err)
	}
	if got := resolveN(t, addr.NewFile[string](path), 1)[0]; got != "a:1" {
		t.Fatalf("Resolve = %q", got)
	}

	// WriteFile refuses to write what readers would refuse to read.
	big := make([]string, addr.MaxFileSize/8)
	for i := range big {
		big[i] = "10.0.0.1:7001"
	}
	err = addr.WriteFile(path, big)
	wantFileError(t, err, path, addr.ErrTooLarge)
	if got := resolveN(t, addr.NewFile[string](path), 1)[0]; got != "a:1" {
		t.Fatalf("after a refused WriteFile the catalog changed: %q", got)
	}
}

func TestFileStructAddresses(t *testing.T) {
	path := catalog(t)
	eps := []endpoint{{"10.0.0.1", 7001}, {"10.0.0.2", 7002}}
	writeCatalog(t, path, eps...)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"host": "10.0.0.1"`) {
		t.Fatalf("catalog %s does not use the JSON field names", data)
	}
	f := addr.NewFile[endpoint](path)
	for i, want := range []endpoint{eps[0], eps[1], eps[0]} {
		got, err := f.Resolve(context.Background())
		if err != nil || got != want {
			t.Fatalf("Resolve #%d = %v, %v; want %v", i, got, err, want)
		}
	}
	if got, err := addr.ReadFile[endpoint](path); err != nil || !slices.Equal(got, eps) {
		t.Fatalf("ReadFile = %v, %v", got, err)
	}
}

func TestFileCancelledContext(t *testing.T) {
	path := catalog(t)
	writeCatalog(t, path, "a:1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := addr.NewFile[string](path).Resolve(ctx)
	wantFileError(t, err, path, context.Canceled)
}

func TestFileIsADirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := addr.NewFile[string](dir).Resolve(context.Background())
	var pe *fs.PathError
	var ae *addr.Error
	if !errors.As(err, &ae) || !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *addr.Error wrapping *fs.PathError", err)
	}
}

// While one goroutine rewrites the catalog over and over, readers always
// find a complete catalog: the raw bytes parse, and Resolve never fails.
// A writer that truncated and rewrote in place would expose empty or
// partial files here.
func TestWriteFileIsAtomic(t *testing.T) {
	path := catalog(t)
	short := []string{"127.0.0.1:7001"}
	long := make([]string, 200) // about 4 KiB: more than one write's worth
	for i := range long {
		long[i] = "127.0.0.1:" + strings.Repeat("9", 4)
	}
	writeCatalog(t, path, short...)

	const rewrites = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range rewrites {
			list := short
			if i%2 == 0 {
				list = long
			}
			if err := addr.WriteFile(path, list); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	f := addr.NewFile[string](path)
	reads := 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false // one last round after the writer stopped
		default:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		var got []string
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("read %d saw a partial catalog (%d bytes): %v", reads, len(data), err)
		}
		if !slices.Equal(got, short) && !slices.Equal(got, long) {
			t.Fatalf("read %d saw %d entries, neither catalog", reads, len(got))
		}
		a, err := f.Resolve(context.Background())
		if err != nil {
			t.Fatalf("Resolve %d: %v", reads, err)
		}
		if a != short[0] && a != long[0] {
			t.Fatalf("Resolve %d = %q", reads, a)
		}
	}
	t.Logf("%d reads during %d rewrites", reads, rewrites)

	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %v, want only the catalog (no temporary files)", entries)
	}
}

// Several File resolvers and writers at once, for the race detector.
func TestFileConcurrentResolve(t *testing.T) {
	path := catalog(t)
	writeCatalog(t, path, "a:1", "b:1")
	f := addr.NewFile[string](path)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 100 {
			list := []string{"a:1", "b:1"}
			if i%2 == 0 {
				list = []string{"x:1", "y:1", "z:1"}
			}
			if err := addr.WriteFile(path, list); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, err := f.Resolve(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestWriteFilePermissions(t *testing.T) {
	path := catalog(t)
	writeCatalog(t, path, "a:1")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("new catalog: %v, %v; want mode 0644", fi, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	writeCatalog(t, path, "b:1")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rewritten catalog: %v, %v; want mode 0600 kept", fi, err)
	}
}

func TestWriteFileErrors(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "servers.json")
	wantFileError(t, addr.WriteFile(missingDir, []string{"a:1"}), missingDir, fs.ErrNotExist)

	path := catalog(t)
	writeCatalog(t, path, 1.5)
	err := addr.WriteFile(path, []float64{math.NaN()})
	var ue *json.UnsupportedValueError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *json.UnsupportedValueError", err)
	}
	if got, err := addr.ReadFile[float64](path); err != nil || !slices.Equal(got, []float64{1.5}) {
		t.Fatalf("after the failed write: %v, %v; want the old catalog", got, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("directory holds %v, want only the catalog", entries)
	}
}

func TestReadFile(t *testing.T) {
	path := catalog(t)
	if _, err := addr.ReadFile[string](path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: err = %v, want fs.ErrNotExist", err)
	}
	writeCatalog[string](t, path)
	if got, err := addr.ReadFile[string](path); err != nil || len(got) != 0 {
		t.Fatalf("empty catalog: %v, %v; want no entries and no error", got, err)
	}
}
