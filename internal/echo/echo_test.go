package echo_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/internal/echo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEchoStopRestart(t *testing.T) {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 10*time.Second)
	defer cancel()
	s, err := echo.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := echo.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctx, "one"); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	s.Stop()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client not Done after the server stopped")
	}
	if err := c.Ping(ctx, "two"); err == nil {
		t.Fatal("Ping after Stop succeeded")
	}
	if _, err := echo.Dial(ctx, s.Addr()); err == nil {
		t.Fatal("Dial to a stopped server succeeded")
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart = %v", err)
	}
	if err := s.Restart(); err == nil {
		t.Fatal("Restart of a running server succeeded")
	}
	c2, err := echo.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Ping(ctx, "three"); err != nil {
		t.Fatalf("Ping after Restart = %v", err)
	}
	c2.Close()
	if err := c2.Ping(ctx, "four"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Ping on a closed conn = %v, want net.ErrClosed", err)
	}
}
