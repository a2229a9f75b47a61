package addr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tetherkit/tether/addr"
)

type endpoint struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

func TestStatic(t *testing.T) {
	r := addr.Static(endpoint{"db", 5432})
	for range 3 {
		if got, err := r.Resolve(context.Background()); got != (endpoint{"db", 5432}) || err != nil {
			t.Fatalf("Resolve = %v, %v", got, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Resolve(ctx)
	var ae *addr.Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || ae.Resolver != "static" {
		t.Fatalf("cancelled: err = %v, want *addr.Error from static wrapping context.Canceled", err)
	}
}

func TestResolverFunc(t *testing.T) {
	calls := 0
	var r addr.Resolver[int] = addr.ResolverFunc[int](func(ctx context.Context) (int, error) {
		calls++
		return calls, nil
	})
	if got := [2]int{must(r.Resolve(context.Background())), must(r.Resolve(context.Background()))}; got != [2]int{1, 2} {
		t.Fatalf("Resolve sequence %v, want [1 2]", got)
	}
}

func must[A any](a A, err error) A {
	if err != nil {
		panic(err)
	}
	return a
}

func TestErrorFormatAndUnwrap(t *testing.T) {
	cause := fmt.Errorf("wrapped: %w", addr.ErrNoAddresses)
	err := error(&addr.Error{Resolver: "file /x", Err: cause})
	if got, want := err.Error(), "addr: file /x: wrapped: no addresses"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, addr.ErrNoAddresses) {
		t.Fatal("errors.Is does not reach the cause")
	}
	if got := (&addr.Error{Resolver: "list"}).Error(); got != "addr: list: <nil>" {
		t.Fatalf("nil Err: %q", got)
	}
}
