package addr_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/tetherkit/tether/addr"
)

func TestListRotation(t *testing.T) {
	l := addr.NewList("a", "b", "c")
	want := []string{"a", "b", "c", "a", "b", "c", "a"}
	if got := resolveN(t, l, len(want)); !slices.Equal(got, want) {
		t.Fatalf("Resolve sequence %v, want %v", got, want)
	}
}

func TestListSetRestartsRotation(t *testing.T) {
	l := addr.NewList("a", "b", "c")
	resolveN(t, l, 2) // a, b: c would be next
	l.Set("x", "y")
	if got, want := resolveN(t, l, 3), []string{"x", "y", "x"}; !slices.Equal(got, want) {
		t.Fatalf("after Set: %v, want %v", got, want)
	}
	l.Set("x", "y") // the same list: rotation still restarts
	if got := resolveN(t, l, 1)[0]; got != "x" {
		t.Fatalf("after Set of the same list: %q, want x", got)
	}
}

func TestListCopies(t *testing.T) {
	in := []string{"a", "b"}
	l := addr.NewList(in...)
	in[0] = "changed"
	out := l.Addrs()
	out[1] = "changed too"
	if got := l.Addrs(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Addrs = %v: the list shares memory with its caller", got)
	}
	set := []string{"p", "q"}
	l.Set(set...)
	set[0] = "changed"
	if got := resolveN(t, l, 1)[0]; got != "p" {
		t.Fatalf("Resolve = %q after the caller changed Set's slice", got)
	}
}

func TestListEmpty(t *testing.T) {
	for name, l := range map[string]*addr.List[string]{
		"NewList()":  addr.NewList[string](),
		"zero value": new(addr.List[string]),
		"Set()":      func() *addr.List[string] { l := addr.NewList("a"); l.Set(); return l }(),
	} {
		_, err := l.Resolve(context.Background())
		var ae *addr.Error
		if !errors.Is(err, addr.ErrNoAddresses) || !errors.As(err, &ae) || ae.Resolver != "list" {
			t.Errorf("%s: err = %v, want *addr.Error from list wrapping ErrNoAddresses", name, err)
		}
		if err != nil && err.Error() != "addr: list: no addresses" {
			t.Errorf("%s: message %q", name, err)
		}
	}
	var l addr.List[int] // the zero value becomes usable with Set
	l.Set(7)
	if got, err := l.Resolve(context.Background()); got != 7 || err != nil {
		t.Fatalf("zero List after Set: %v, %v", got, err)
	}
}

func TestListCancelledContext(t *testing.T) {
	l := addr.NewList("a", "b")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Resolve(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The failed call did not advance the rotation.
	if got := resolveN(t, l, 1)[0]; got != "a" {
		t.Fatalf("after a cancelled Resolve: %q, want a", got)
	}
}

// Concurrent callers share one strict rotation: over a multiple of the
// list's length, every element comes out equally often.
func TestListConcurrentResolve(t *testing.T) {
	l := addr.NewList("a", "b", "c", "d")
	const workers, each = 8, 1000
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := map[string]int{}
			for range each {
				a, err := l.Resolve(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				local[a]++
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range local {
				counts[k] += v
			}
		})
	}
	wg.Wait()
	for _, k := range []string{"a", "b", "c", "d"} {
		if counts[k] != workers*each/4 {
			t.Fatalf("counts %v, want %d each", counts, workers*each/4)
		}
	}
}

// Set, Addrs and Resolve running together: for the race detector, and every
// answer comes from one of the lists that were set.
func TestListConcurrentSet(t *testing.T) {
	l := addr.NewList("a", "b")
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 1000 {
			if i%2 == 0 {
				l.Set("x", "y", "z")
			} else {
				l.Set("a", "b")
			}
			l.Addrs()
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				a, err := l.Resolve(context.Background())
				if err != nil || !slices.Contains([]string{"a", "b", "x", "y", "z"}, a) {
					t.Errorf("Resolve = %q, %v", a, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
