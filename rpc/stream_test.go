package rpc_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherkit/tether/rpc"
	"github.com/tetherkit/tether/test/sim"
)

var (
	countdown = rpc.NewStream[int, int]("countdown", 1) // sends n, n-1, … 1, then fails if n is negative
	sink      = rpc.NewStream[int, int]("sink", 1)      // reads requests only when told
)

func TestStreamEndsWithTheHandlersError(t *testing.T) {
	var hs rpc.Handlers
	countdown.Implement(&hs, func(ctx context.Context, n int, st *rpc.ServerStream[int, int]) error {
		for i := range 3 {
			if err := st.Send(i); err != nil {
				return err
			}
		}
		if n < 0 {
			return errors.New("ran out of numbers")
		}
		return nil
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})

	for _, n := range []int{1, -1} {
		st, err := countdown.Open(patient(t), c, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if got, err := st.Recv(); err != nil || got != i {
				t.Fatalf("item %d = %d, %v", i, got, err)
			}
		}
		_, err = st.Recv()
		var re *rpc.RemoteError
		switch {
		case n > 0 && err != io.EOF:
			t.Fatalf("clean end = %v, want io.EOF", err)
		case n < 0 && (!errors.As(err, &re) || re.Message != "ran out of numbers"):
			t.Fatalf("failed stream = %v, want the handler's error", err)
		}
		if err := st.Send(9); err == nil {
			t.Fatal("Send after the handler returned succeeded")
		}
		st.Close()
	}
}

func TestClosingAStreamCancelsItsHandler(t *testing.T) {
	handlerDone := make(chan error, 1)
	var hs rpc.Handlers
	countdown.Implement(&hs, func(ctx context.Context, n int, st *rpc.ServerStream[int, int]) error {
		for i := 0; ; i++ {
			if err := st.Send(i); err != nil {
				handlerDone <- err
				return err
			}
		}
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	st, err := countdown.Open(patient(t), c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := <-handlerDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's Send after Close = %v, want context.Canceled", err)
	}
	st.Close() // twice is fine
	// The connection carries on.
	if _, err := echo.Call(patient(t), c, Echo{}); err == nil || !errors.Is(err, rpc.ErrUnknownMethod) {
		t.Fatalf("call after a closed stream = %v (want the connection up: ErrUnknownMethod here)", err)
	}
}

func TestStreamContextGovernsTheStream(t *testing.T) {
	handlerDone := make(chan error, 1)
	var hs rpc.Handlers
	countdown.Implement(&hs, func(ctx context.Context, n int, st *rpc.ServerStream[int, int]) error {
		<-ctx.Done()
		handlerDone <- ctx.Err()
		return ctx.Err()
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	ctx, cancel := context.WithCancel(patient(t))
	st, err := countdown.Open(ctx, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := st.Recv(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv after the context ended = %v", err)
	}
	if err := <-handlerDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler's context = %v, want Canceled", err)
	}
}

func TestCloseSend(t *testing.T) {
	var hs rpc.Handlers
	countdown.Implement(&hs, func(ctx context.Context, first int, st *rpc.ServerStream[int, int]) error {
		sum := first
		for {
			n, err := st.Recv()
			if err == io.EOF {
				return st.Send(sum) // all requests read: answer with the sum
			}
			if err != nil {
				return err
			}
			sum += n
		}
	})
	addr, _ := serve(t, rpc.Config{Handlers: &hs})
	c := dial(t, addr, rpc.Config{})
	st, err := countdown.Open(patient(t), c, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 2; i <= 100; i++ {
		if err := st.Send(i); err != nil {
			t.Fatal(err)
		}
	}
	st.CloseSend()
	if err := st.Send(101); err == nil {
		t.Fatal("Send after CloseSend succeeded")
	}
	if sum, err := st.Recv(); err != nil || sum != 5050 {
		t.Fatalf("sum = %d, %v; want 5050", sum, err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("end = %v", err)
	}
}

// Flow control: a sender gets about one window ahead of a receiver that
// does not read, and no further; reading lets it finish. On the simulated
// network, "the sender is blocked" is a fact, not a guess.
func TestStreamFlowControlBoundsTheReceiver(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: time.Millisecond, Max: time.Millisecond}}, func(t *testing.T, n *sim.Network) {
		const window = 1024
		read := make(chan struct{})
		var received atomic.Int64
		var hs rpc.Handlers
		sink.Implement(&hs, func(ctx context.Context, _ int, st *rpc.ServerStream[int, int]) error {
			<-read
			for {
				if _, err := st.Recv(); err != nil {
					return nil
				}
				received.Add(1)
			}
		})
		simServe(t, n, rpc.Config{Handlers: &hs, StreamWindow: window})
		c := simDial(t, n, rpc.Config{})
		st, err := sink.Open(context.Background(), c, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var sent atomic.Int64
		done := make(chan error, 1)
		go func() {
			for range 2000 {
				if err := st.Send(7); err != nil { // one byte of msgpack each
					done <- err
					return
				}
				sent.Add(1)
			}
			st.CloseSend()
			done <- nil
		}()
		settle(n)
		// Each item is one byte of msgpack: a window of 1024 bytes holds
		// 1024 of them, and the sender stops exactly there.
		if got := sent.Load(); got != window {
			t.Fatalf("sender got %d items ahead of a receiver that does not read, want exactly the window, %d", got, window)
		}
		if received.Load() != 0 {
			t.Fatal("received before reading")
		}
		close(read)
		if err := <-done; err != nil {
			t.Fatalf("sender after the receiver read = %v", err)
		}
		settle(n)
		if got := received.Load(); got != 2000 {
			t.Fatalf("received %d, want 2000", got)
		}
	})
}
