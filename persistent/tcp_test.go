package persistent_test

// Real TCP on 127.0.0.1 and the wall clock: waits are on events, each with a
// generous deadline, never on sleeps.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/internal/echo"
	"github.com/tetherkit/tether/persistent"
)

const patience = 10 * time.Second // how long a test waits for something that should happen

func startEcho(t *testing.T) *echo.Server {
	t.Helper()
	s, err := echo.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func ping(t *testing.T, c *echo.Conn, msg string) {
	t.Helper()
	if err := c.Ping(patient(t), msg); err != nil {
		t.Fatalf("Ping(%q) = %v", msg, err)
	}
}

// events returns an OnEvent handler that collects every event on a channel.
func events[A comparable, C persistent.Connection]() (func(persistent.Event[A, C]), <-chan persistent.Event[A, C]) {
	ch := make(chan persistent.Event[A, C], 1000)
	return func(e persistent.Event[A, C]) { ch <- e }, ch
}

// await reads events until one of kind k, and returns it.
func await[A comparable, C persistent.Connection](t *testing.T, ch <-chan persistent.Event[A, C], k event.Kind) persistent.Event[A, C] {
	t.Helper()
	deadline := clock.Real().NewTimer(patience)
	defer deadline.Stop()
	for {
		select {
		case e := <-ch:
			if e.Kind == k {
				return e
			}
		case <-deadline.Chan():
			t.Fatalf("no %v event within %v", k, patience)
		}
	}
}

func patient(t *testing.T) context.Context {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), patience)
	t.Cleanup(cancel)
	return ctx
}

func newEchoClient(t *testing.T, r addr.Resolver[string]) (*persistent.Conn[string, *echo.Conn], <-chan persistent.Event[string, *echo.Conn]) {
	t.Helper()
	onEvent, evs := events[string, *echo.Conn]()
	pc, err := persistent.New(persistent.Config[string, *echo.Conn]{
		ServerName: "echo",
		Resolver:   r,
		Connect:    echo.Dial,
		OnEvent:    onEvent,
		RetryDelay: persistent.Constant(20 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(context.Background()) })
	return pc, evs
}

func TestTCPServerRestart(t *testing.T) {
	srv := startEcho(t)
	pc, evs := newEchoClient(t, addr.Static(srv.Addr()))

	c1, err := pc.Connected(patient(t))
	if err != nil {
		t.Fatal(err)
	}
	ping(t, c1, "before")

	srv.Stop()
	await(t, evs, event.Disconnected)
	e := await(t, evs, event.FailedToConnect)
	if !errors.Is(e.Err, syscall.ECONNREFUSED) {
		t.Fatalf("while the server is down: %v, want connection refused", e.Err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	e = await(t, evs, event.Connected)
	if e.Conn == c1 {
		t.Fatal("Connected reported the old connection")
	}
	ping(t, e.Conn, "after")
	if cur, _ := pc.CurrentConnection(); cur != e.Conn {
		t.Fatalf("CurrentConnection() = %v, want the new connection", cur)
	}
}

func TestTCPFailoverThroughList(t *testing.T) {
	a, b := startEcho(t), startEcho(t)
	_, evs := newEchoClient(t, addr.NewList(a.Addr(), b.Addr()))

	if e := await(t, evs, event.ObtainedAddress); e.Addr != a.Addr() {
		t.Fatalf("first address %s, want %s", e.Addr, a.Addr())
	}
	c := await(t, evs, event.Connected).Conn
	if got := c.RemoteAddr().String(); got != a.Addr() {
		t.Fatalf("connected to %s, want %s", got, a.Addr())
	}
	ping(t, c, "on a")

	a.Stop() // a stays down
	await(t, evs, event.Disconnected)
	if e := await(t, evs, event.ObtainedAddress); e.Addr != b.Addr() {
		t.Fatalf("after a died: address %s, want %s", e.Addr, b.Addr())
	}
	c = await(t, evs, event.Connected).Conn
	if got := c.RemoteAddr().String(); got != b.Addr() {
		t.Fatalf("connected to %s, want %s", got, b.Addr())
	}
	ping(t, c, "on b")
}

func TestTCPCloseWhileConnecting(t *testing.T) {
	// A server that accepts and never says hello: Connect waits for a
	// greeting that does not come.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	defer held.Wait()
	defer ln.Close()
	held.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})

	inConnect := make(chan struct{}, 1)
	var attempts int
	var mu sync.Mutex
	pc, err := persistent.New(persistent.Config[string, *persistent.NetConn]{
		ServerName: "silent",
		Resolver:   addr.Static(ln.Addr().String()),
		Connect: func(ctx context.Context, a string) (*persistent.NetConn, error) {
			mu.Lock()
			attempts++
			mu.Unlock()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", a)
			if err != nil {
				return nil, err
			}
			inConnect <- struct{}{}
			stop := context.AfterFunc(ctx, func() { c.Close() }) // cancellation interrupts the read
			defer stop()
			if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
				c.Close()
				return nil, fmt.Errorf("waiting for hello: %w", err)
			}
			return persistent.NewNetConn(c), nil
		},
		RetryDelay: persistent.Constant(time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	<-inConnect
	if err := pc.Close(patient(t)); err != nil {
		t.Fatalf("Close while connecting = %v", err)
	}
	if _, err := pc.ConnectedOrFailedToConnect(context.Background()); !errors.Is(err, persistent.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 1 {
		t.Fatalf("%d attempts, want 1", attempts)
	}
}
