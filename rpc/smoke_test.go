package rpc_test

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/tetherkit/tether/rpc"
)

var payload = []byte("abcdefghijklmnop")

func TestSmoke(t *testing.T) {
	got := make(chan Echo, 10)
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(got), Identification: "server"})
	c := dial(t, addr, rpc.Config{Identification: "client"})
	ctx := patient(t)
	if c.Peer().Identification != "server" {
		t.Fatalf("peer %+v", c.Peer())
	}
	resp, err := echo.Call(ctx, c, Echo{Payload: payload, N: 7})
	if err != nil || resp.N != 7 || !bytes.Equal(resp.Payload, payload) {
		t.Fatalf("Call = %+v, %v", resp, err)
	}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 100 {
				n := int64(g*1000 + i)
				r, err := echo.Call(ctx, c, Echo{Payload: payload, N: n})
				if err != nil || r.N != n {
					t.Errorf("call %d = %+v, %v", n, r, err)
					return
				}
			}
		})
	}
	wg.Wait()

	st, err := echoStream.Open(ctx, c, Echo{N: 0})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 1; i < 1000; i++ {
			if err := st.Send(Echo{N: int64(i)}); err != nil {
				t.Error(err)
				return
			}
		}
		st.CloseSend()
	}()
	for i := range 1000 {
		it, err := st.Recv()
		if err != nil || it.N != int64(i) {
			t.Fatalf("item %d = %+v, %v", i, it, err)
		}
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("Recv after the end = %v, want io.EOF", err)
	}
	st.Close()

	if err := notify.Send(ctx, c, Echo{N: 42}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m.N != 42 {
		t.Fatalf("one-way got %+v", m)
	}
}
